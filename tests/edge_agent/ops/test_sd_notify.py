"""sd_notify over a real unix datagram socket: READY=1 at start, WATCHDOG=1 from the heartbeat loop, STOPPING=1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.ops.sd_notify import SdNotifier

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """What systemd listens on: a unix datagram socket (a short path: sun_path holds 108 bytes)."""
    path = f"/tmp/medflow-sd-{os.getpid()}-{time.monotonic_ns()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    yield sock, path
    sock.close()
    os.unlink(path)


def test_ready_watchdog_and_stopping_reach_the_socket(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = SdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
    assert notifier.enabled and notifier.watchdog_seconds == 30.0
    assert notifier.ready("running 2 source(s)")
    assert sock.recv(4096) == b"READY=1\nSTATUS=running 2 source(s)"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_socket() -> None:
    name = f"medflow-sd-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        assert SdNotifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(4096) == b"READY=1"


def test_without_systemd_every_call_is_a_no_op(tmp_path: Path) -> None:
    assert not SdNotifier({}).enabled and SdNotifier({}).watchdog_seconds is None
    assert not SdNotifier({}).ready()
    # a socket that went away: reported as False, never raised into the agent
    assert not SdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).watchdog()


@pytest.mark.integration
def test_the_running_agent_says_ready_then_pings_the_watchdog_from_its_heartbeat_loop(
    tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\nclinic_id = "c1"\nagent_id = "a1"\ndata_dir = "data"\nheartbeat_seconds = 3600\n\n'
        f'[cloud]\nbucket = "medflow-ingest-test"\nendpoint_url = "http://127.0.0.1:{dead_port}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "900000"}
    agent = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(config)], cwd=REPO, env=env)
    try:
        received = [sock.recv(4096)]
        while len([m for m in received if m == b"WATCHDOG=1"]) < 3:  # one heartbeat an hour, yet a ping every 0.3 s
            received.append(sock.recv(4096))
        assert any(m.startswith(b"READY=1\nSTATUS=running 0 source(s)") for m in received)
        agent.send_signal(signal.SIGTERM)
        while (message := sock.recv(4096)) != b"STOPPING=1":
            assert message == b"WATCHDOG=1"
        assert agent.wait(30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(10)
