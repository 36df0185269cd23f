"""Starts and stops moto's server as a real local AWS endpoint (S3, SQS, DynamoDB) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# Calls that change nothing, or whose effect must not come back at a replay: SQS receipts and
# deletes (the S3 PUTs re-create the notifications; ingest is idempotent, so they are harmlessly
# processed again), and reads, which would grow the recording forever (the router polls SQS).
_NOT_REPLAYED = {
    "AmazonSQS.ReceiveMessage",
    "AmazonSQS.DeleteMessage",
    "AmazonSQS.DeleteMessageBatch",
    "AmazonSQS.ChangeMessageVisibility",
    "AmazonSQS.ChangeMessageVisibilityBatch",
    "AmazonSQS.GetQueueUrl",
    "AmazonSQS.GetQueueAttributes",
    "AmazonSQS.ListQueues",
    "DynamoDB_20120810.GetItem",
    "DynamoDB_20120810.BatchGetItem",
    "DynamoDB_20120810.Query",
    "DynamoDB_20120810.Scan",
    "DynamoDB_20120810.DescribeTable",
    "DynamoDB_20120810.ListTables",
    "DynamoDB_20120810.TransactGetItems",
    "DynamoDBStreams_20120810.DescribeStream",
    "DynamoDBStreams_20120810.GetShardIterator",
    "DynamoDBStreams_20120810.GetRecords",
    "DynamoDBStreams_20120810.ListStreams",
}


def compact_recording(path: Path) -> tuple[int, int]:
    """Keeps only the calls that change state (see _NOT_REPLAYED); returns (kept, dropped)."""
    if not path.exists():
        return 0, 0
    kept: list[str] = []
    dropped = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        call = json.loads(line)
        target = (call.get("headers") or {}).get("X-Amz-Target", "")
        if call.get("method") in {"GET", "HEAD"} or target in _NOT_REPLAYED or "/moto-api/" in call.get("url", ""):
            dropped += 1
            continue
        kept.append(line)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)
    return len(kept), dropped


class MotoServer:
    """One `moto.server` process. With `record_to`, every call is recorded and replayed on the next start."""

    def __init__(self, port: int | None = None, record_to: Path | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.record_to = record_to
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> MotoServer:
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} on 127.0.0.1 is already in use; set another port")
        env = {**os.environ, **LOCAL_CREDENTIALS}
        if self.record_to is not None:
            self.record_to.parent.mkdir(parents=True, exist_ok=True)
            env["MOTO_ENABLE_RECORDING"] = "True"
            env["MOTO_RECORDER_FILEPATH"] = str(self.record_to)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"moto server did not answer on {self.url} within {timeout}s")
        return self

    def _post(self, path: str) -> None:
        req = urllib.request.Request(f"{self.url}{path}", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=30):
            pass

    def replay(self) -> None:
        """Replays the recording (if any) so the state of the last run comes back."""
        if self.record_to is not None and self.record_to.exists() and self.record_to.stat().st_size > 0:
            # The server appends to this file while it runs; only the writes need replaying.
            compact_recording(self.record_to)
            # Replaying must not re-record the replayed calls: stop, replay, start again.
            self._post("/moto-api/recorder/stop-recording")
            self._post("/moto-api/recorder/replay-recording")
            self._post("/moto-api/recorder/start-recording")

    def reset(self) -> None:
        """Forgets every resource (tests use this between cases)."""
        self._post("/moto-api/reset")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
