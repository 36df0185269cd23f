"""ASTM over TCP: the simulator plays a multi-frame transcript to the agent's listener."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from edge_agent.adapters.astm import AstmAdapter
from edge_agent.commands.simulate import astm_messages, play_astm
from edge_agent.config import AstmTcpSourceConfig
from edge_agent.identity import Identity
from edge_agent.intake.intake import Intake
from edge_agent.sources.astm_tcp import AstmTcpSource
from edge_agent.sources.stream import socket_reader
from edge_agent.spool import Spool

pytestmark = pytest.mark.integration


def test_pentra_transcript_over_tcp_is_stored_once(tmp_path: Path, corpus_dir: Path) -> None:
    spool = Spool(tmp_path / "data")
    intake = Intake(spool, Identity("c1", "a1"), max_spool_bytes=10**8, adapters=[AstmAdapter()])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = AstmTcpSource(AstmTcpSourceConfig(name="pentra", port=port), intake)
    source.start()
    raw = (corpus_dir / "astm" / "senaite__senaite.astm__pentra_xlr.txt").read_bytes()
    try:
        for _ in range(2):  # the same result sent twice is stored once
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.settimeout(0.1)
                out = io.StringIO()
                assert play_astm(conn.sendall, socket_reader(conn), astm_messages(raw), out) == 0
                assert out.getvalue() == "sent: 28 frames acknowledged\n"
    finally:
        source.stop()
    assert spool.ledger.items.counts()["parsed"] == 1
    spool.close()
