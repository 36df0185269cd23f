"""`bench/mllp.py` keeps running (`make bench-mllp`): a tiny run stores every message once and answers AA."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "mllp.py"


@pytest.mark.integration
def test_a_small_run_stores_each_message_once_and_answers_aa() -> None:
    senders, messages, paced = 2, 5, 20  # paced: 200 msg/s for 0.1 s
    out = subprocess.run(
        [sys.executable, str(BENCH), "--senders", str(senders), "--messages", str(messages), "--rate-seconds", "0.1"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    summaries = re.findall(r"items stored (\d+); answers other than AA (\d+)", out)
    # In-process and with parse workers: the warm-up message, the burst and the paced run, each stored once.
    assert summaries == [(str(1 + senders * messages + paced), "0")] * 2, out
    assert re.search(r"2 senders: bare asyncio echo \(baseline\)\s+\d+", out), out
    # The durable floor ran to the end (a sender exits only once every message got its answer).
    floor = re.search(r"2 senders: echo after fdatasync \(floor\)\s+(\d+)", out)
    assert floor is not None and int(floor.group(1)) > 0, out
    assert re.search(r"2 senders: echo after fdatasync / bare echo \d+\.\d+", out), out
    ceiling = re.search(r"takes (\d+\.\d+) ms of CPU: on \d+ cores at most (\d+) msg/s", out)
    assert ceiling is not None and float(ceiling.group(1)) > 0, out
