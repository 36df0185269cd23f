"""Parse workers (real `python -m edge_agent.parse_worker` processes): same answers as parsing in the
agent, a worker killed mid-job loses nothing, broken workers fall back to parsing in the agent."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.commands.simulate import send_hl7
from edge_agent.config import MllpSourceConfig
from edge_agent.identity import Identity
from edge_agent.intake.describer import Describer
from edge_agent.intake.intake import Intake
from edge_agent.intake.parse_pool import ParsePool
from edge_agent.sources.mllp import MllpSource
from edge_agent.spool import Described, ItemState, NewItem, Spool

pytestmark = pytest.mark.integration
IDENT = Identity("clinic1", "agent1", "site/")
DESCRIBER = Describer(IDENT, ALL_ADAPTERS)
ORU = (
    b"MSH|^~\\&|XP|LAB|LIS|CLINIC|20240101120000||ORU^R01|MSG{n}|P|2.5\r"
    b"PID|1||P123\rOBR|1|ORD1|ACC1\rOBX|1|NM|WBC^White cells^L||5.{n}|10*3/uL|4-10|N|||F\r"
)
BAD_DELIMITERS = b"MSH|^^\\&|XP|LAB|LIS|CLINIC|20240101120000||ORU^R01|BAD1|P|2.5\rPID|1||P9\r"


def oru(n: int) -> bytes:
    return ORU.replace(b"{n}", str(n).encode())


def new_item(raw: bytes, name: str = "mllp-x.hl7") -> NewItem:
    at = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    return NewItem(hashlib.sha256(raw).hexdigest(), len(raw), "mllp", "mllp://10.0.0.5:4000", "", name, "xp-1", (), at)


def local(raw: bytes, tmp_path: Path) -> Described:
    spool = Spool(tmp_path / "local")
    try:
        return Intake(spool, IDENT, max_spool_bytes=10**9, adapters=ALL_ADAPTERS).describe(new_item(raw), raw)
    finally:
        spool.close()


async def in_pool(raws: Sequence[bytes], workers: int = 2, **kwargs: object) -> tuple[list[Described], ParsePool]:
    pool = ParsePool(workers, DESCRIBER, name="lab", **kwargs)  # type: ignore[arg-type]
    pool.start()
    try:
        return list(await asyncio.gather(*(pool.describe(new_item(r), r) for r in raws))), pool
    finally:
        pool.close()


def test_workers_answer_what_the_agent_would(tmp_path: Path) -> None:
    raws = [oru(n) for n in range(6)] + [BAD_DELIMITERS]
    described, _ = asyncio.run(in_pool(raws))
    assert described == [local(raw, tmp_path) for raw in raws]  # same objects, keys, bodies, reasons, in order
    assert [d.state for d in described] == [ItemState.PARSED] * 6 + [ItemState.QUARANTINED]
    assert described[-1].reason == "bad_delimiters"
    assert b'"value":"5.3"' in described[3].objects[1].body  # type: ignore[operator]


def test_a_worker_killed_mid_job_quarantines_that_input_and_is_replaced() -> None:
    async def scenario() -> tuple[Described, Described, ParsePool]:
        pool = ParsePool(1, DESCRIBER, name="lab")
        pool.start()
        try:
            await pool.describe(new_item(oru(1)), oru(1))  # the worker works
            (pid,) = pool.workers
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):  # waited without yielding to the loop, so the pool has not noticed yet
                time.sleep(0.01)
            # Handed to the dead worker before the loop notices its end: it died "on" this input.
            victim = await pool.describe(new_item(oru(2)), oru(2))
            after = await pool.describe(new_item(oru(3)), oru(3))
            return victim, after, pool
        finally:
            pool.close()

    victim, after, pool = asyncio.run(scenario())
    assert victim.state == ItemState.QUARANTINED and victim.reason == "internal_error"
    assert "parse worker" in (victim.detail or "") and "exited" in (victim.detail or "")
    assert victim.objects[0].role == "raw"  # the raw bytes are still stored and uploaded
    assert after.state == ItemState.PARSED and pool.restarts == 1


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_that_cannot_start_leave_parsing_to_the_agent(tmp_path: Path) -> None:
    broken = [sys.executable, "-c", "import sys; sys.exit(3)"]
    raws = [oru(n) for n in range(3)]
    described, pool = asyncio.run(in_pool(raws, workers=2, command=broken))
    assert described == [local(raw, tmp_path) for raw in raws]  # parsed, not quarantined for the workers' fault
    assert pool.workers == []


def test_mllp_source_with_parse_workers_acks_and_stores(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data")
    config = MllpSourceConfig(name="lab", port=_free_port(), parse_workers=2)
    pool = ParsePool(config.parse_workers, DESCRIBER, name=config.name)  # as edge_agent.__main__ builds it
    intake = Intake(spool, IDENT, max_spool_bytes=10**9, adapters=ALL_ADAPTERS, parse_pool=pool)
    source = MllpSource(config, intake)
    pool.start()  # as the agent starts it, before its sources
    source.start()
    out = io.StringIO()
    try:
        assert len(pool.workers) == 2
        send_hl7("127.0.0.1", source.port or 0, [oru(7), BAD_DELIMITERS, oru(7)], out)
    finally:
        source.stop()
        pool.close()
    try:
        assert [line.split("|")[1] for line in out.getvalue().splitlines()] == ["AA", "AE", "AA"]
        counts = spool.ledger.items.counts()
        assert (counts["parsed"], counts["quarantined"]) == (1, 1)  # the resend stored once
    finally:
        spool.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
