"""An agent killed with SIGKILL in the middle of a burst: every AA-ACKed message survives, none is stored twice."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.framing.mllp import MllpDecoder, encode
from edge_agent.spool import Spool

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
AGENT = """
import sys, threading
from pathlib import Path
from edge_agent.adapters.hl7 import Hl7Adapter
from edge_agent.config import MllpSourceConfig
from edge_agent.identity import Identity
from edge_agent.intake.intake import Intake
from edge_agent.sources.mllp import MllpSource
from edge_agent.spool import Spool
spool = Spool(Path(sys.argv[1]))
intake = Intake(spool, Identity("c1", "a1"), max_spool_bytes=10**9, adapters=[Hl7Adapter()])
intake.resume()
MllpSource(MllpSourceConfig(name="lab", port=int(sys.argv[2])), intake).start()
print("ready", flush=True)
threading.Event().wait()
"""


def message(i: int) -> bytes:
    return b"MSH|^~\\&|XP|LAB|LIS|C|20240101||ORU^R01|M%05d|P|2.5\rPID|1||P%05d\rOBX|1|NM|WBC||%d.5|10*3/uL|||||F\r" % (
        i,
        i,
        i,
    )


def start_agent(data: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(data), str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigkill_mid_burst_loses_no_acked_message_and_duplicates_none(tmp_path: Path) -> None:
    data, port = tmp_path / "spool", free_port()
    total, kill_after = 400, 120
    acked: list[int] = []
    agent = start_agent(data, port)
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    decoder = MllpDecoder()
    for i in range(total):  # pipelined like a busy analyzer: send, then read whatever ACKs came back
        try:
            conn.sendall(encode(message(i)))
            if i == kill_after:
                os.kill(agent.pid, signal.SIGKILL)
            conn.settimeout(2)
            for ack in decoder.feed(conn.recv(65536)):
                if isinstance(ack, bytes) and b"\rMSA|AA|M" in ack:
                    acked.append(int(ack.split(b"MSA|AA|M")[1][:5]))
        except OSError:
            break
    conn.close()
    agent.wait(10)
    assert 0 < len(acked) < total

    # Restart; the analyzer resends everything it has no AA for, and (to be sure) a few it had.
    agent = start_agent(data, port)
    try:
        resend = [i for i in range(total) if i not in set(acked)] + acked[:10]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            decoder = MllpDecoder()
            for i in resend:
                conn.sendall(encode(message(i)))
                got: list[object] = []
                while not got:
                    got = decoder.feed(conn.recv(65536))
                assert b"\rMSA|AA|" in got[0]  # type: ignore[operator]
    finally:
        agent.kill()
        agent.wait(10)

    spool = Spool(data)
    try:
        shas = spool.ledger.outbox.all_shas()
        for i in acked:
            assert hashlib.sha256(message(i)).hexdigest() in shas, f"AA-acknowledged message {i} was lost"
        assert len(shas) == total
        assert sum(spool.ledger.items.counts().values()) == total, "a message was stored twice"
    finally:
        spool.close()
