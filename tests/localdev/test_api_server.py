"""The local API server answers as the deployed API: unknown routes 404 and unknown methods 405, both in the
API's error shape `{code, message}`, with or without an Authorization header."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localdev.moto import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "cloud")])}
    argv = [sys.executable, "-m", "localdev.api_server", "--port", str(port), "--stage", "local"]
    proc = subprocess.Popen(argv, cwd=REPO / "cloud", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ask(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    raw = response.read()
    assert response.getheader("Content-Type", "").startswith("application/json"), raw
    return response.status, json.loads(raw)


@pytest.mark.parametrize("path", ["/nope", "/patients/../agents", "/patients/x/readings/y", "/AGENTS"])
@pytest.mark.parametrize("authorization", [None, "Bearer abc.def.ghi", "AWS4-HMAC-SHA256 junk"])
def test_an_unknown_route_is_a_404_in_the_error_shape(server: int, path: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    status, body = _ask(server, "GET", path, headers)
    assert status == 404
    assert body == {"code": "not_found", "message": body["message"]} and "route" in body["message"]


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_a_method_the_server_has_no_handler_for_is_a_405_in_the_error_shape(server: int, method: str) -> None:
    status, body = _ask(server, method, "/health")
    assert (status, body["code"], set(body)) == (405, "method_not_allowed", {"code", "message"})


def test_a_known_route_still_answers(server: int) -> None:
    status, body = _ask(server, "GET", "/openapi.json")
    assert status == 200 and body["openapi"].startswith("3.1")
