"""Serial source over a socat pty pair (a null-modem cable): ASTM E1381 sessions and line output.

socat is required: missing, these tests skip locally with a clear message and FAIL under CI.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from edge_agent.adapters.astm import AstmAdapter
from edge_agent.adapters.hl7 import Hl7Adapter
from edge_agent.commands.simulate import astm_messages, play_astm
from edge_agent.config import SerialSourceConfig
from edge_agent.identity import Identity
from edge_agent.intake.intake import Intake
from edge_agent.sources.serial import SerialSource
from edge_agent.spool import Spool

pytestmark = pytest.mark.integration
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    spool = Spool(tmp_path / "data")
    yield Intake(
        spool, Identity("clinic1", "agent1"), max_spool_bytes=50_000_000, adapters=[AstmAdapter(), Hl7Adapter()]
    )
    spool.close()


def wait_for(predicate: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_astm_transcript_played_over_a_null_modem_is_stored(
    null_modem: tuple[Path, Path], intake: Intake, corpus_dir: Path
) -> None:
    agent_tty, device_tty = (str(p) for p in null_modem)
    config = SerialSourceConfig(name="xp100", device=agent_tty, baudrate=9600, parity="N", stopbits=1, protocol="astm")
    source = SerialSource(config, intake)
    source.start()
    wait_for(source.opened.is_set)
    raw = (corpus_dir / "astm" / "senaite__senaite.astm__sysmex_xp100.txt").read_bytes()
    out = io.StringIO()
    try:
        with serial.Serial(device_tty, 9600, timeout=0.1) as port:
            status = play_astm(port.write, lambda: bytes(port.read(port.in_waiting or 1)), astm_messages(raw), out)
    finally:
        source.stop()
    assert status == 0, out.getvalue()
    assert "frames acknowledged" in out.getvalue()
    counts = intake.spool.ledger.items.counts()
    assert counts["parsed"] == 1 and counts["quarantined"] == 0


def test_line_device_output_is_collected_until_the_line_goes_quiet(
    null_modem: tuple[Path, Path], intake: Intake
) -> None:
    agent_tty, device_tty = (str(p) for p in null_modem)
    config = SerialSourceConfig(name="nidek", device=agent_tty, protocol="lines")
    source = SerialSource(config, intake)
    source.start()
    wait_for(source.opened.is_set)
    try:
        with serial.Serial(device_tty, 9600, timeout=0.1) as port:
            for chunk in (b"H|\\^&|||DEV\r", b"R|1|^^^GLU|5.1|mmol/L\r", b"L|1|N\r"):
                port.write(chunk)
                time.sleep(0.1)
        wait_for(lambda: sum(intake.spool.ledger.items.counts().values()) == 1, 5)
    finally:
        source.stop()
    assert intake.spool.ledger.items.counts()["parsed"] == 1


def test_port_that_appears_later_is_opened(tmp_path: Path, intake: Intake) -> None:
    if shutil.which("socat") is None:
        pytest.skip("socat not installed") if not IN_CI else pytest.fail("socat not installed")
    agent = tmp_path / "late-tty"
    source = SerialSource(SerialSourceConfig(name="late", device=str(agent), protocol="astm"), intake)
    source.start()
    time.sleep(0.3)
    assert not source.opened.is_set()
    proc = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={agent}", f"pty,raw,echo=0,link={tmp_path / 'other'}"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(source.opened.is_set, 10)
    finally:
        source.stop()
        proc.terminate()
        proc.wait(5)
