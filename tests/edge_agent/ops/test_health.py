"""The local health endpoint over real HTTP: /healthz 200 then 503 on alarm, /metrics in Prometheus text format."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET, IDENT, LineAdapter, device_file

from edge_agent.__main__ import build_agent
from edge_agent.config import parse_config
from edge_agent.errors import ConfigError
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.ops.health import Counters, HealthServer
from edge_agent.spool import Spool
from localdev.moto import free_port

# name{labels} value — the sample line of the text exposition format (labels optional).
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def parse_metrics(text: str) -> dict[str, float]:
    """Every sample by `name{labels}`; fails on a line that is not HELP, TYPE or a well-formed sample."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"gauge", "counter"}
            typed.add(name)
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        assert match.group(1) in typed, f"sample before its TYPE: {line!r}"
        samples[line.rsplit(" ", 1)[0]] = float(match.group(4))
    return samples


@pytest.fixture
def server(spool: Spool) -> Iterator[HealthServer]:
    health = HealthServer(spool.ledger.path, Counters(), port=0, alarm_after=3)  # port 0: the OS picks a free one
    health.start()
    yield health
    health.stop()


def test_healthz_is_200_then_503_on_the_spool_alarm(server: HealthServer, intake: Intake, spool: Spool) -> None:
    intake.submit(device_file("pid=SECRET od=15"), Origin("Smith.txt", "folder", "file:///Smith.txt"))
    url = f"http://127.0.0.1:{server.port}/healthz"
    code, content_type, body = get(url)
    assert code == 200 and content_type == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok" and health["alarm"] is None and health["counts"]["parsed"] == 1
    assert health["version"] and health["uptime_s"] >= 0 and health["last_upload_at"] is None
    assert "SECRET" not in body and "Smith" not in body
    spool.ledger.meta.set("alarm", "spool_full: 10 bytes waiting, cap 5; new items are refused")
    code, _, body = get(url)
    assert code == 503 and json.loads(body)["alarm"].startswith("spool_full") and json.loads(body)["status"] == "alarm"
    spool.ledger.meta.set("alarm", None)
    assert get(url)[0] == 200


def test_healthz_is_503_when_uploads_keep_failing(server: HealthServer, intake: Intake, spool: Spool) -> None:
    item = intake.submit(device_file("pid=P1 od=15"), Origin("a.txt", "folder", "file:///a.txt"))
    for _ in range(2):
        spool.ledger.outbox.upload_failed(item.item_id, "s3:AccessDenied (HTTP 403)", 0)
    assert get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200  # failing, not yet past the threshold
    spool.ledger.outbox.upload_failed(item.item_id, "s3:AccessDenied (HTTP 403)", 0)
    code, _, body = get(f"http://127.0.0.1:{server.port}/healthz")
    assert code == 503 and json.loads(body)["alarm"] == "upload_failing: 1 item(s) failed 3 or more times"


def test_metrics_parse(server: HealthServer, spool: Spool) -> None:
    intake = Intake(spool, IDENT, max_spool_bytes=10**7, adapters=[LineAdapter()])
    intake.on_taken(server.counters.inputs_taken)  # as edge_agent.__main__ subscribes it
    for raw in (device_file("pid=P1 od=15"), b"\x00 junk", device_file("pid=P1 od=15")):
        intake.submit(raw, Origin("f", "folder", "file:///f", source="inbox"))
    spool.ledger.meta.set("last_upload_at", "2026-02-01T12:00:00+00:00")
    code, content_type, text = get(f"http://127.0.0.1:{server.port}/metrics")
    assert code == 200 and content_type.startswith("text/plain; version=0.0.4")
    m = parse_metrics(text)
    assert m['medflow_edge_spool_items{state="parsed"}'] == 1
    assert m['medflow_edge_spool_items{state="quarantined"}'] == 1
    assert m["medflow_edge_spool_pending_bytes"] == len(device_file("pid=P1 od=15")) + len(b"\x00 junk")
    assert m["medflow_edge_last_upload_timestamp_seconds"] == 1769947200
    assert m["medflow_edge_uploads_total"] == 0 and m["medflow_edge_upload_failures_total"] == 0
    assert m["medflow_edge_alarm"] == 0
    for outcome in ("parsed", "quarantined", "duplicate"):
        assert m[f'medflow_edge_source_items_total{{source="inbox",outcome="{outcome}"}}'] == 1
    assert get(f"http://127.0.0.1:{server.port}/nope")[0] == 404


@pytest.mark.integration
def test_the_agent_serves_health_while_running(tmp_path: Path, aws_endpoint: str, s3: Any) -> None:
    (tmp_path / "inbox").mkdir()
    port = free_port()
    config = parse_config({
        "agent": {"clinic_id": "clinic1", "agent_id": "agent1", "data_dir": str(tmp_path / "data"),
                  "health_port": port, "heartbeat_seconds": 60},
        "cloud": {"bucket": BUCKET, "endpoint_url": aws_endpoint},
        "sources": [{"kind": "folder", "name": "inbox", "path": str(tmp_path / "inbox"), "settle_seconds": 0.1}],
    })  # fmt: skip
    agent = build_agent(config)
    with pytest.raises(ConfigError, match=f"agent.health_port: cannot listen on 127.0.0.1:{port}"):
        build_agent(config)  # a second agent on the same port: refused at start, naming the key
    agent.start()
    try:
        (tmp_path / "inbox" / "junk.bin").write_bytes(b"\x00\x01 not a device file")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while parse_metrics(get(f"{url}/metrics")[2]).get("medflow_edge_items_uploaded_total", 0) < 1:
            assert time.monotonic() < deadline, get(f"{url}/metrics")[2]
            time.sleep(0.05)
        m = parse_metrics(get(f"{url}/metrics")[2])
        assert m['medflow_edge_source_items_total{source="inbox",outcome="quarantined"}'] == 1
        assert m["medflow_edge_uploads_total"] >= 2 and m["medflow_edge_uploaded_bytes_total"] > 0
        assert get(f"{url}/healthz")[0] == 200
    finally:
        agent.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
