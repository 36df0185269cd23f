"""`bench/api_scaling.py` keeps running (`make bench-api`): at two tiny clinic sizes every journey route answers
with the same DynamoDB calls, and a login token costs one GetItem more (its session is read)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_scaling.py"
JOURNEY = (
    "GET /patients/{id}", "GET /patients?q= (name prefix)", "GET /patients?q= (phone)", "GET /patients?q= (OP number)",
    "GET /patients/{id}/readings", "GET /readings/unmatched", "GET /agents", "GET /audit",
    "GET /audit?resource=&resource_id=", "GET /audit?user_id=", "GET /events", "GET /users", "GET /clinics",
    "POST /patients", "PATCH /patients/{id}", "POST /readings/unmatched/{id}/assign",
)  # fmt: skip


@pytest.mark.integration
def test_every_journey_route_makes_the_same_calls_at_two_sizes() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "20,60", "--requests", "3", "--write-requests", "2"],
        capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    for label in JOURNEY:
        table = re.search(rf"^{re.escape(label)}\s+\|\s+(\d+)\s+[\d.]+\s+[\d.]+\s+\|\s+(\d+)\s", out, re.MULTILINE)
        assert table is not None, f"no table row for {label}\n{out}"
        assert table.group(1) == table.group(2) and int(table.group(1)) >= 1, table.group(0)
        status = "201" if label == "POST /patients" else "200"
        assert re.search(rf"^{re.escape(label)} .*\(HTTP {status}\)$", out, re.MULTILINE), f"{label}: not {status}"
        verdict = re.search(rf"^{re.escape(label)}\s+(\d+) vs (\d+)\s+same calls at every size$", out, re.MULTILINE)
        assert verdict is not None, f"no verdict for {label}\n{out}"
    for size in ("20", "60"):
        session = re.search(rf"^session check at {size} patients: (\d+) -> (\d+) calls \(\+1: GetItem\); p50 ", out,
                            re.MULTILINE)  # fmt: skip
        assert session is not None, out
        assert int(session.group(2)) == int(session.group(1)) + 1
