"""Fixtures shared by every test tier: the corpus location and a real moto server process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.moto import LOCAL_CREDENTIALS, MotoServer

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _corpus() -> Path:
    env = os.environ.get("MEDFLOW_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


CORPUS = _corpus()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """`../shared/corpus` (or MEDFLOW_CORPUS). Skips with a reason where absent, fails under CI."""
    if not CORPUS.is_dir():
        msg = f"device corpus not found at {CORPUS} (set MEDFLOW_CORPUS)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return CORPUS


@pytest.fixture(autouse=True)
def _local_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed fake credentials, so no test can ever reach a real AWS account."""
    for key, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A real `moto.server` process on a free 127.0.0.1 port for the whole session."""
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_endpoint(moto_server: MotoServer) -> Iterator[str]:
    """The moto server's URL, with every resource forgotten before the test."""
    moto_server.reset()
    yield moto_server.url


@pytest.fixture(scope="session")
def localstack_url() -> Iterator[str]:
    """A LocalStack endpoint: MEDFLOW_LOCALSTACK_URL when set, else one started for the session on a free
    127.0.0.1 port (localdev/localstack.py; the first start builds .venv-localstack). Fails under CI
    when it cannot start, skips with the reason elsewhere."""
    from localdev.localstack import LocalStack, LocalStackUnavailable

    given = os.environ.get("MEDFLOW_LOCALSTACK_URL")
    if given:
        yield given
        return
    server = LocalStack()
    try:
        server.start()
    except LocalStackUnavailable as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def null_modem(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A socat pty pair, as a null-modem cable: (agent end, device end). Fails under CI without socat."""
    import shutil
    import subprocess
    import time

    if shutil.which("socat") is None:
        message = "socat not installed (make system-deps): serial tests need a pty pair"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    agent, device = tmp_path / "agent-tty", tmp_path / "device-tty"
    proc = subprocess.Popen(
        ["socat", f"pty,raw,echo=0,link={agent}", f"pty,raw,echo=0,link={device}"], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 5
    while not (agent.exists() and device.exists()):
        assert time.monotonic() < deadline, "socat did not create the pty pair"
        time.sleep(0.02)
    yield agent, device
    proc.terminate()
    proc.wait(5)
