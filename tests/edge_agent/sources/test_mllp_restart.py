"""An MLLP source restarted by live configuration changes (real sockets, a real spool, a real parse worker): twenty
restarts leave no thread, file descriptor, event loop or intake door behind, and the parse worker serves the
restarted source's loop (it used to stay bound to the first loop, so after a restart parsing ran in the agent)."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.__main__ import build_source
from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.config import MllpSourceConfig
from edge_agent.framing.mllp import MllpDecoder, encode
from edge_agent.identity import Identity
from edge_agent.intake.describer import Describer
from edge_agent.intake.intake import Intake
from edge_agent.intake.loop import LoopDoor
from edge_agent.intake.parse_pool import ParsePool
from edge_agent.sources.running import RunningSources
from edge_agent.spool import Spool

pytestmark = pytest.mark.integration
IDENT = Identity("clinic1", "agent1")
RESTARTS = 20
ORU = (
    b"MSH|^~\\&|XP|LAB|LIS|CLINIC|20240101120000||ORU^R01|MSG{n}|P|2.5\r"
    b"PID|1||P123\rOBR|1|ORD1|ACC1\rOBX|1|NM|WBC^White cells^L||5.{n}|10*3/uL|4-10|N|||F\r"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(port: int, n: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(encode(ORU.replace(b"{n}", str(n).encode())))
        decoder = MllpDecoder()
        while not (answers := decoder.feed(conn.recv(65536))):
            pass
    ack = answers[0]
    assert isinstance(ack, bytes)
    return ack.decode().split("\r")[1]


def _lab(port: int, generation: int) -> MllpSourceConfig:
    # Any setting that differs makes RunningSources stop the source and start a new one on the same port.
    return MllpSourceConfig(name="lab", port=port, max_message_bytes=1_000_000 + generation, parse_workers=1)


def _live() -> tuple[int, int, int, int]:
    """Threads, open file descriptors, intake doors and event loops alive in this process."""
    gc.collect()
    objects = gc.get_objects()
    doors = sum(isinstance(o, LoopDoor) for o in objects)
    loops = sum(isinstance(o, asyncio.AbstractEventLoop) for o in objects)
    return threading.active_count(), len(os.listdir("/proc/self/fd")), doors, loops


@pytest.fixture
def intake_with_worker(tmp_path: Path) -> Iterator[tuple[Intake, ParsePool]]:
    spool = Spool(tmp_path / "data")
    pool = ParsePool(1, Describer(IDENT, ALL_ADAPTERS), name="lab")
    pool.start()
    intake = Intake(spool, IDENT, max_spool_bytes=10**9, adapters=ALL_ADAPTERS, parse_pool=pool)
    yield intake, pool
    pool.close()
    spool.close()


def test_restarts_release_the_loop_and_keep_the_parse_worker(intake_with_worker: tuple[Intake, ParsePool]) -> None:
    intake, pool = intake_with_worker
    port = _free_port()
    sources = RunningSources(lambda config: build_source(config, intake), [_lab(port, 0)])
    sources.start()
    try:
        assert _send(port, 0).startswith("MSA|AA|")
        baseline = _live()
        for generation in range(1, RESTARTS + 1):
            change = sources.replace([_lab(port, generation)])
            assert change.restarted == ("lab",)
            assert _send(port, generation).startswith("MSA|AA|")
            assert pool.parsed == generation + 1  # parsed by the worker, also after the restart
        after = _live()
    finally:
        sources.stop()
    threads, fds, doors, loops = after
    assert (threads, fds) == baseline[:2]
    assert doors <= baseline[2] and loops <= baseline[3]  # the running source's own, nothing per restart
    assert intake.spool.ledger.items.counts()["parsed"] == RESTARTS + 1  # every message ACKed AA is in the spool
