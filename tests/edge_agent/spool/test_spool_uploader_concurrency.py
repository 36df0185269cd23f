"""Concurrent puts against moto's server behind a real local HTTP proxy that refuses or loses chosen
PUTs: an item is marked uploaded only once S3 has confirmed every one of its objects."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from agent_testkit import BUCKET, device_file, drain

from edge_agent.config import CloudSection
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.spool import ItemState, Spool
from edge_agent.spool.uploader import ObjectWriter, Uploader, make_s3_client

pytestmark = pytest.mark.integration

# A PUT's fate, by its path: "pass" (forwarded), "refuse" (400 BadDigest, never reaches S3) or
# "lose" (forwarded, S3 stores it, but the answer is a 500: S3 has it without having confirmed it).
Rule = Callable[[str], str]


class FlakyProxy(ThreadingHTTPServer):
    """Forwards every request to moto's server unless `rule` says otherwise; counts PUTs in flight."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.rule: Rule = lambda path: "pass"
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.confirmed: set[str] = set()  # paths of PUTs answered 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FlakyProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature; quiet
        pass

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in {"content-length", "connection", "transfer-encoding", "date", "server"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str) -> None:
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>test</Message></Error>"
        self._answer(status, [("Content-Type", "application/xml")], body.encode())

    def do_PUT(self) -> None:  # the name http.server dispatches to
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fate = self.server.rule(self.path)
        if fate == "refuse":
            self._error(400, "BadDigest")
            return
        with self.server.lock:
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
        try:
            status, headers, answer = self._forward(body)
        finally:
            with self.server.lock:
                self.server.in_flight -= 1
        if fate == "lose":
            self._error(500, "InternalError")
            return
        if status == 200:
            with self.server.lock:
                self.server.confirmed.add(self.path)
        self._answer(status, headers, answer)

    def do_GET(self) -> None:
        self._answer(*self._forward(b""))

    do_HEAD = do_GET


@pytest.fixture
def proxy(aws_endpoint: str) -> Iterator[FlakyProxy]:
    server = FlakyProxy(aws_endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def items_in(intake: Intake, count: int) -> list[int]:
    ids = []
    for n in range(count):
        origin = Origin(f"t{n}.txt", "folder", f"file:///in/t{n}.txt")
        ids.append(intake.submit(device_file(f"pid=P{n} od={10 + n % 20}"), origin).item_id)
    return ids


def in_s3(s3: Any, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except s3.exceptions.ClientError:
        return False
    return True


def test_items_are_marked_uploaded_only_once_s3_confirmed_all_their_objects(
    intake: Intake, spool: Spool, cloud: CloudSection, s3: Any, proxy: FlakyProxy
) -> None:
    ids = items_in(intake, 24)
    keys = {i: [o.key for o in spool.ledger.outbox.objects(i)] for i in ids}
    refused = {keys[i][1] for i in ids[::3]}  # these items' envelopes never reach S3
    lost = {keys[i][1] for i in ids[1::3]}  # these reach S3, but their confirmation is lost
    proxy.rule = lambda path: "refuse" if _key(path) in refused else "lose" if _key(path) in lost else "pass"
    via_proxy = cloud.model_copy(update={"endpoint_url": proxy.url})
    uploader = Uploader(spool, ObjectWriter(make_s3_client(via_proxy), via_proxy), workers=8, backoff_base=0.01)
    told: list[int] = []

    def on_uploaded(item_id: int) -> None:  # at the moment the uploader tells: every object is in S3, confirmed
        assert all(in_s3(s3, key) for key in keys[item_id])
        assert all(f"/{BUCKET}/{key}" in proxy.confirmed for key in keys[item_id])
        told.append(item_id)

    uploader.on_uploaded(on_uploaded)
    for _ in range(3):
        uploader.run_once()
    assert proxy.most_in_flight > 1  # several puts at once
    for item_id in ids:
        item = spool.ledger.items.get(item_id)
        assert item is not None
        failing = keys[item_id][1] in refused | lost
        assert (item.state == ItemState.UPLOADED) is not failing, item_id
        if failing:  # the raw object S3 confirmed is remembered; the envelope is still owed
            assert [o.key for o in spool.ledger.outbox.objects(item_id)] == [keys[item_id][1]]
            assert in_s3(s3, keys[item_id][1]) is (keys[item_id][1] in lost)
    assert sorted(told) == sorted(i for i in ids if keys[i][1] not in refused | lost)

    proxy.rule = lambda path: "pass"  # S3 healthy again: the rest goes, what was lost is put again
    spool.ledger.connection.db.execute("UPDATE items SET next_attempt_at = 0")
    drain(uploader)
    uploader.stop()
    assert spool.ledger.items.counts()["uploaded"] == len(ids)
    assert sorted(told) == sorted(ids)
    assert all(in_s3(s3, key) for item_keys in keys.values() for key in item_keys)


def test_an_outage_costs_one_probe_then_all_workers_resume(
    intake: Intake, spool: Spool, cloud: CloudSection, s3: Any, proxy: FlakyProxy
) -> None:
    ids = items_in(intake, 12)
    proxy.rule = lambda path: "lose"  # every put answered 500: the endpoint is failing
    via_proxy = cloud.model_copy(update={"endpoint_url": proxy.url})
    uploader = Uploader(spool, ObjectWriter(make_s3_client(via_proxy), via_proxy), backoff_base=0.01)
    _, backing_off = uploader.run_once()
    assert backing_off
    attempts = [spool.ledger.items.get(i).attempts for i in ids]  # type: ignore[union-attr]
    assert attempts == [1] + [0] * (len(ids) - 1)  # one probe, not one request per worker
    proxy.rule = lambda path: "pass"
    spool.ledger.connection.db.execute("UPDATE items SET next_attempt_at = 0")
    drain(uploader)
    uploader.stop()
    assert spool.ledger.items.counts()["uploaded"] == len(ids)


def _key(path: str) -> str:
    return path.split("?", 1)[0].removeprefix(f"/{BUCKET}/")
