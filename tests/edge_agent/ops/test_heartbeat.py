"""Heartbeat: agents/{clinic}/{agent}/heartbeat.json with counts and times, checksummed and encrypted, no PHI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from agent_testkit import BUCKET, IDENT, RecordingWriter, device_file

from edge_agent.config import CloudSection
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.ops.heartbeat import Heartbeat
from edge_agent.spool import Spool
from edge_agent.spool.uploader import ObjectWriter, make_s3_client
from localdev.moto import free_port

pytestmark = pytest.mark.integration
AT = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def test_heartbeat_reports_counts_without_phi(intake: Intake, spool: Spool, writer: RecordingWriter, s3: Any) -> None:
    intake.submit(device_file("pid=SECRET-PATIENT od=15"), Origin("Smith_John.txt", "folder", "file:///Smith_John.txt"))
    intake.submit(b"", Origin("e.txt", "folder", "file:///e.txt"))
    spool.ledger.meta.set("last_upload_at", AT.isoformat())
    beat = Heartbeat(spool, writer, IDENT, interval=60, sources=["inbox"], clock=lambda: AT)
    assert beat.send_once()
    key = "agents/clinic1/agent1/heartbeat.json"
    raw = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    body = json.loads(raw)
    assert body["schema"] == "medflow.heartbeat/1" and body["clinic_id"] == "clinic1" and body["agent_id"] == "agent1"
    assert body["counts"] == {"received": 0, "parsed": 1, "quarantined": 1, "uploaded": 0}
    assert body["last_upload_at"].startswith("2026-02-01T12:00") and body["sources"] == ["inbox"]
    assert b"SECRET-PATIENT" not in raw and b"Smith" not in raw
    head = s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256" and head["ChecksumSHA256"]


def test_heartbeat_failure_is_logged_not_raised(spool: Spool) -> None:
    cloud = CloudSection(bucket=BUCKET, endpoint_url=f"http://127.0.0.1:{free_port()}", connect_timeout_seconds=1)
    beat = Heartbeat(spool, ObjectWriter(make_s3_client(cloud), cloud), IDENT, interval=60)
    assert beat.send_once() is False


def test_last_error_carries_its_time_and_ends_once_nothing_fails(
    intake: Intake, spool: Spool, writer: RecordingWriter
) -> None:
    a = intake.submit(device_file("pid=P1 od=15"), Origin("a.txt", "folder", "file:///a.txt"))
    b = intake.submit(device_file("pid=P2 od=15"), Origin("b.txt", "folder", "file:///b.txt"))
    outbox = spool.ledger.outbox
    for item in (a, b):
        outbox.upload_failed(item.item_id, "s3:SlowDown (HTTP 503)", 0)
    spool.ledger.meta.error("s3:SlowDown (HTTP 503)", AT)
    beat = Heartbeat(spool, writer, IDENT, interval=60, clock=lambda: AT).build()
    assert beat.last_error == "2026-02-01T12:00:00+00:00 s3:SlowDown (HTTP 503)"
    extra = beat.model_extra or {}
    assert (beat.last_error_at, extra["quarantined_total"]) == (AT, 0)  # last_error_at: a field of the model now
    outbox.item_uploaded(a.item_id, AT)  # b still fails: the error is still true
    assert spool.ledger.meta.read()["last_error_at"] == AT.isoformat()
    outbox.item_uploaded(b.item_id, AT)  # nothing fails any more (also after a restart: it is in the ledger)
    assert "last_error" not in spool.ledger.meta.read() and "last_error_at" not in spool.ledger.meta.read()
