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


def test_heartbeat_reports_each_source_and_device_with_its_last_input_and_keeps_them_across_restarts(
    tmp_path: Any, writer: RecordingWriter, s3: Any
) -> None:
    from edge_agent.ops.activity import Activity, Expected

    clock = [AT]
    expected = [Expected("lab", "mllp", None), Expected("oct", "folder", 240), Expected("quiet", "serial", None)]
    spool = Spool(tmp_path / "data")
    activity = Activity(expected, clock=lambda: clock[0])
    intake = Intake(spool, IDENT, max_spool_bytes=10_000_000, adapters=[], clock=lambda: clock[0])
    intake.on_taken(activity.taken)
    intake.submit(b"x1", Origin("a.hl7", "mllp", "mllp://10.0.0.5", device_id="cobas-1", source="lab"))
    intake.submit(b"x2", Origin("b.hl7", "mllp", "mllp://10.0.0.6", device_id="sysmex-2", source="lab"))
    clock[0] = datetime(2026, 2, 1, 12, 30, tzinfo=UTC)
    intake.submit(b"x1", Origin("a.hl7", "mllp", "mllp://10.0.0.5", device_id="cobas-1", source="lab"))  # a resend
    intake.submit(b"scan", Origin("s.txt", "folder", "file:///s.txt", source="oct"))
    beat = Heartbeat(spool, writer, IDENT, interval=60, activity=activity, clock=lambda: clock[0])
    body = beat.build().model_dump(mode="json")
    devices = {(d["source"], d["device_id"]): d for d in body["devices"]}
    assert set(devices) == {("lab", "cobas-1"), ("lab", "sysmex-2"), ("oct", None), ("quiet", None)}
    assert (devices[("lab", "cobas-1")]["items"], devices[("lab", "cobas-1")]["last_seen_at"]) == (
        2, "2026-02-01T12:30:00Z")  # fmt: skip
    assert devices[("lab", "sysmex-2")]["last_seen_at"] == "2026-02-01T12:00:00Z"
    assert devices[("oct", None)]["expect_every_minutes"] == 240 and devices[("oct", None)]["kind"] == "folder"
    assert devices[("quiet", None)]["last_seen_at"] is None and devices[("quiet", None)]["items"] == 0
    assert body["interval_seconds"] == 60
    assert body["oldest_pending_at"] == "2026-02-01T12:00:00Z"  # nothing uploaded yet
    assert body["errors_by_kind"] == {"unknown_format": 3}  # no adapter: every input quarantined
    spool.close()

    # A new agent process on the same spool still knows when each device last spoke.
    spool = Spool(tmp_path / "data")
    later = Heartbeat(spool, writer, IDENT, interval=60, activity=Activity(expected), clock=lambda: clock[0])
    again = {(d["source"], d["device_id"]): d["last_seen_at"] for d in later.build().model_dump(mode="json")["devices"]}
    assert again[("lab", "sysmex-2")] == "2026-02-01T12:00:00Z" and again[("quiet", None)] is None
    spool.close()


def test_a_configuration_applied_live_changes_the_beat_and_is_reported(spool: Spool, writer: RecordingWriter) -> None:
    from shared_models import ConfigRejection

    status: tuple[int | None, ConfigRejection | None] = (None, None)
    beat = Heartbeat(spool, writer, IDENT, interval=60, sources=["inbox"], config_status=lambda: status)
    beat.on_beat(lambda: None, every=20)  # the systemd watchdog's turn
    built = beat.build()
    assert built.config_version is None and built.config_error is None  # on the TOML

    refused = ConfigRejection(version=4, error="sources[0].port: Input should be less than or equal to 65535", at=AT)
    status = (3, refused)
    beat.reconfigure(interval=120, sources=["inbox", "oct"])
    built = beat.build()
    assert (built.config_version, built.config_error, built.interval_seconds) == (3, refused, 120)
    assert (built.model_extra or {})["sources"] == ["inbox", "oct"]
    assert beat._turn == 20 and beat._soon.is_set()  # the watchdog's turn kept; the change is sent at once
    beat.reconfigure(interval=5, sources=[])
    assert beat._turn == 5
