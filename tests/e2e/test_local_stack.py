"""End to end, as a clinic drives it: `python -m localdev run`, a corpus file dropped in the inbox, its
readings seen through the HTTP API; then a restart keeps the data."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from localdev.moto import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
ORU = "hl7/microsoft__FHIR-Converter__ORU-R01-01.hl7"
ADT = "hl7/microsoft__FHIR-Converter__ADT01-23.hl7"
TOPASCOPE = "ophthalmic/ukinoki__Rufus__RODENSTOCK_TopaScope_TOMEY_TOP-1000_tonometer.xml"


class LocalStack:
    def __init__(self, var: Path, env: dict[str, str] | None = None) -> None:
        self.var = var
        self.env = env or {}  # more of what `make run` reads from its environment (e.g. ANTHROPIC_BASE_URL)
        self.api_port = free_port()
        self.aws_port = free_port()
        self.mllp_port = free_port()
        self.health_port = free_port()
        self.dicom_port = free_port()  # every port the stack opens: e2e modules run side by side on xdist workers
        self.smb_port = free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, timeout: float = 90) -> None:
        env = {
            **os.environ,
            "MEDFLOW_VAR": str(self.var),
            "MEDFLOW_API_PORT": str(self.api_port),
            "MEDFLOW_AWS_PORT": str(self.aws_port),
            "MEDFLOW_MLLP_PORT": str(self.mllp_port),
            "MEDFLOW_AGENT_HEALTH_PORT": str(self.health_port),
            "MEDFLOW_DICOM_PORT": str(self.dicom_port),
            "MEDFLOW_SMB_PORT": str(self.smb_port),
            "MEDFLOW_ADMIN_EMAIL": "e2e@clinic.test",
            "MEDFLOW_ADMIN_PASSWORD": "e2e-password-123",
            "MEDFLOW_SETTLE_SECONDS": "0.5",
            **self.env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "localdev", "run"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.output.append(line)
            if line.strip() == "medflow: ready":
                return
            if time.monotonic() > deadline:
                break
        self.stop()
        pytest.fail("local stack did not become ready:\n" + "".join(self.output) + self.logs())

    def logs(self) -> str:
        out = []
        for log in sorted((self.var / "logs").glob("*.log")):
            out.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self.proc.stdout is not None:
            self.output.extend(self.proc.stdout.readlines())
        self.proc = None
        return code

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        timeout: float = 10,
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def login(self) -> str:
        return str(self.log_in()["access_token"])

    def log_in(self) -> dict[str, Any]:
        status, body = self.call("POST", "/auth/login", {"email": "e2e@clinic.test", "password": "e2e-password-123"})
        assert status == 200, body
        return dict(body)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    s = LocalStack(tmp_path / "var")
    yield s
    s.stop()


def _readings(stack: LocalStack, token: str, patient: str) -> list[dict[str, Any]]:
    status, body = stack.call("GET", f"/patients/{patient}/readings", token=token)
    if status == 404:  # the patient becomes known with its first capture
        return []
    assert status == 200, f"{body}\n{stack.logs()}"
    return [item["reading"] for item in body["items"]]


T = TypeVar("T")


def _eventually(probe: Callable[[], T], seconds: float = 15) -> T:
    """The first truthy answer of `probe` within `seconds` (the last answer otherwise)."""
    deadline = time.monotonic() + seconds
    answer = probe()
    while not answer and time.monotonic() < deadline:
        time.sleep(0.3)
        answer = probe()
    return answer


def _found(answer: tuple[int, Any]) -> tuple[int, Any] | None:
    """`_eventually` keeps asking while the answer is a 404; anything else is final."""
    return None if answer[0] == 404 else answer


def _send_hl7(stack: LocalStack, path: Path) -> None:
    """Plays `path` to the demo agent's MLLP listener as an analyzer would; every ACK must be AA."""
    argv = [sys.executable, "-m", "edge_agent", "simulate", "hl7", "--to", f"127.0.0.1:{stack.mllp_port}", str(path)]
    sim = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert sim.returncode == 0 and "AA" in sim.stdout, sim.stdout + sim.stderr


def test_dropped_device_file_reaches_the_api_and_survives_restart(stack: LocalStack, corpus_dir: Path) -> None:
    stack.start()
    token = stack.login()
    assert stack.call("GET", "/patients/00000033/readings")[0] == 401

    shutil.copy(corpus_dir / TOPASCOPE, stack.var / "inbox" / "topascope.xml")
    readings = _eventually(lambda: _readings(stack, token, "00000033"))
    assert readings, "no readings within 15 s\n" + stack.logs()
    iops = sorted((r["eye"], r["iop_mmhg"], r["representative"]) for r in readings if r["kind"] == "tonometry")
    assert ("OD", 15.6, True) in iops and ("OS", 18.3, True) in iops
    assert [v for eye, v, rep in iops if eye == "OD" and not rep] == [15, 16, 24]

    # A lab analyzer over MLLP: the ACK is AA, and its results reach the API too.
    _send_hl7(stack, corpus_dir / ORU)
    labs = _eventually(lambda: [r for r in _readings(stack, token, "14") if r["kind"] == "lab"])
    assert any(r["code"] == "625-4" and r["value"] == "Salmonella" for r in labs), labs

    # A registration (HL7 ADT^A01) over the same link updates the patient's demographics.
    _send_hl7(stack, corpus_dir / ADT)
    answer = _eventually(lambda: _found(stack.call("GET", "/patients/10006579", token=token)))
    assert answer is not None, "patient 10006579 not found within 15 s\n" + stack.logs()
    status, patient = answer
    assert status == 200, patient
    assert patient["adt"]["event"] == "A01"

    # The demo agent reports itself healthy, with what it uploaded.
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.health_port}/healthz", timeout=5) as resp:
        health = json.loads(resp.read())
    assert resp.status == 200 and health["status"] == "ok", health

    # The agent's original file is never modified or deleted.
    assert (stack.var / "inbox" / "topascope.xml").read_bytes() == (corpus_dir / TOPASCOPE).read_bytes()

    assert stack.stop() == 0
    stack.start()
    session = stack.log_in()
    again = _readings(stack, str(session["access_token"]), "00000033")
    assert sorted(map(json.dumps, again)) == sorted(map(json.dumps, readings))

    # Over real HTTP too: a refresh gives a working access token, a logout ends the session.
    status, renewed = stack.call("POST", "/auth/refresh", {"refresh_token": session["refresh_token"]})
    assert status == 200, renewed
    assert _readings(stack, renewed["access_token"], "00000033")
    assert stack.call("POST", "/auth/logout", {}, token=renewed["access_token"]) == (200, {"status": "logged_out"})
    status, body = stack.call("POST", "/auth/refresh", {"refresh_token": renewed["refresh_token"]})
    assert (status, body["code"]) == (401, "session_ended")
