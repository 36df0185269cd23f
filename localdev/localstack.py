"""Starts and stops LocalStack (no Docker: localstack/start.sh, Python 3.13) on a free 127.0.0.1 port.

Its first start builds `.venv-localstack` (~3 minutes); later starts take seconds. `start()` waits for
`/_localstack/health` to report S3 running, with a real timeout, and raises `LocalStackUnavailable` with
the tail of its log when it cannot start. LocalStack checks presigned URLs against the secret `test`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from localdev.moto import free_port

REPO = Path(__file__).resolve().parent.parent
START_SCRIPT = REPO / "localstack" / "start.sh"
# LocalStack's default account: presigned URLs must be signed with this secret (with another, even a correct
# presigned PUT answers 403 SignatureDoesNotMatch).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
FIRST_START_SECONDS = 600.0  # includes building the Python 3.13 environment once
START_SECONDS = 120.0


class LocalStackUnavailable(RuntimeError):
    """LocalStack could not be started here (no Python 3.13, no registry, or it did not become healthy)."""


class LocalStack:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = Path(tempfile.mkdtemp(prefix="medflow-localstack-"))
        self.log = self.state / "localstack.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float | None = None) -> LocalStack:
        built = (REPO / ".venv-localstack" / ".complete").exists()
        timeout = timeout or (START_SECONDS if built else FIRST_START_SECONDS)
        env = {**os.environ, **CREDENTIALS, "LOCALSTACK_PORT": str(self.port), "LOCALSTACK_STATE_DIR": str(self.state)}
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                ["bash", str(START_SCRIPT)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LocalStackUnavailable(f"LocalStack exited with {self._proc.returncode}: {self._tail()}")
            if self.healthy():
                return self
            time.sleep(0.5)
        self.stop()
        raise LocalStackUnavailable(f"LocalStack not healthy after {timeout:.0f} s: {self._tail()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_localstack/health", timeout=2) as answer:
                services = json.load(answer).get("services", {})
        except (OSError, ValueError):
            return False
        return services.get("s3") in {"running", "available"} and services.get("sqs") in {"running", "available"}

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)  # the script's exec'd python and its children
        try:
            self._proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(5)

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"
