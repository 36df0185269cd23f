"""The ingest Lambda over in-process moto: idempotency, partial batch failures, unmatched, quarantine, heartbeats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import agents as agents_repo
from chalicelib.db import audit as audit_repo
from chalicelib.db import quarantine as quarantine_repo
from chalicelib.db import readings as readings_repo
from chalicelib.db import unmatched as unmatched_repo
from chalicelib.events.ingest import lambda_handler
from chalicelib.resources import ResourceNames
from localdev.router import FakeLambdaContext
from tests.cloud.builders import (
    RECEIVED,
    heartbeat_object_key,
    make_envelope,
    make_heartbeat,
    make_quarantine,
    put_envelope,
    put_object,
    quarantine_object_key,
    s3_notification,
    sqs_event,
)


def handle(*bodies: str) -> dict[str, Any]:
    return dict(lambda_handler(sqs_event(*bodies), FakeLambdaContext()))


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def patient_readings(clinic: str = "demo", patient: str = "P-1001") -> list[Any]:
    return readings_repo.list_for_patient(clinic, patient, kind=None, limit=100, next_token=None).items


def test_envelope_readings_are_stored_under_the_patient(cloud: ResourceNames) -> None:
    key = put_envelope(cloud, make_envelope())

    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []

    readings = patient_readings()
    assert sorted(r.reading["iop_mmhg"] for r in readings) == [15.0, 16.0, 18.3, 24.0]
    assert {r.kind for r in readings} == {"tonometry"}
    assert readings[0].adapter["name"] == "tomey_topascope_xml"
    assert readings[0].device["model"] == "TOP-1000"


def test_duplicate_delivery_gives_one_record(cloud: ResourceNames) -> None:
    key = put_envelope(cloud, make_envelope())
    body = s3_notification(cloud.bucket, key)

    assert failed_ids(handle(body, body)) == []  # the same event twice in one batch
    assert failed_ids(handle(body)) == []  # and once more later

    assert len(patient_readings()) == 4
    ingested = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "envelope.ingested"]
    assert len(ingested) == 1
    [agent] = agents_repo.list_for_clinic("demo", limit=50, next_token=None).items
    assert agent.envelopes_ingested == 1
    assert agent.readings_ingested == 4


def test_poison_message_is_reported_while_good_ones_succeed(cloud: ResourceNames) -> None:
    good = put_envelope(cloud, make_envelope())
    invalid = put_object(cloud, "envelopes/demo/2026/11/03/" + "a" * 64 + ".json", b'{"clinic_id": "demo"}')
    broken = put_object(cloud, "envelopes/demo/2026/11/03/" + "b" * 64 + ".json", b"{not json")

    response = handle(
        "this is not an S3 notification",
        s3_notification(cloud.bucket, good),
        s3_notification(cloud.bucket, invalid),
        s3_notification(cloud.bucket, broken),
        s3_notification(cloud.bucket, "envelopes/demo/2026/11/03/missing.json"),
    )

    assert failed_ids(response) == ["m0", "m2", "m3", "m4"]
    assert len(patient_readings()) == 4


def test_a_batch_where_everything_fails_is_reported_not_raised(cloud: ResourceNames) -> None:
    assert failed_ids(handle("{}garbage", "[1, 2")) == ["m0", "m1"]


def test_envelope_without_patient_id_becomes_unmatched(cloud: ResourceNames) -> None:
    envelope = make_envelope(patient_id=None, seed="no-patient")
    key = put_envelope(cloud, envelope)

    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []

    page = unmatched_repo.list_for_clinic("demo", limit=10, next_token=None)
    assert [u.envelope_id for u in page.items] == [envelope.envelope_id]
    assert len(page.items[0].readings) == 4
    [agent] = agents_repo.list_for_clinic("demo", limit=50, next_token=None).items
    assert (agent.unmatched_ingested, agent.readings_ingested) == (1, 0)


def test_clinic_in_key_must_match_the_envelope(cloud: ResourceNames) -> None:
    envelope = make_envelope(clinic_id="demo")
    key = put_envelope(cloud, envelope, key=f"envelopes/other/2026/11/03/{envelope.envelope_id}.json")

    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == ["m0"]
    assert patient_readings() == []
    assert patient_readings(clinic="other") == []


def test_notification_from_another_bucket_is_rejected(cloud: ResourceNames) -> None:
    key = put_envelope(cloud, make_envelope())
    assert failed_ids(handle(s3_notification("someone-elses-bucket", key))) == ["m0"]


def test_s3_test_event_is_skipped(cloud: ResourceNames) -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": cloud.bucket})
    assert failed_ids(handle(body)) == []


def test_key_with_spaces_arrives_quote_plus_encoded(cloud: ResourceNames) -> None:
    envelope = make_envelope(seed="spaced")
    key = put_envelope(cloud, envelope, key=f"envelopes/demo/2026/11/03/{envelope.envelope_id} copy.json")
    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []
    assert len(patient_readings()) == 4


def test_quarantine_record_is_stored_once(cloud: ResourceNames) -> None:
    record = make_quarantine()
    key = put_object(cloud, quarantine_object_key(record), record.model_dump_json().encode())
    body = s3_notification(cloud.bucket, key)

    assert failed_ids(handle(body, body)) == []

    page = quarantine_repo.list_for_clinic("demo", limit=10, next_token=None)
    assert [(q.reason, q.sha256) for q in page.items] == [("unknown_format", record.raw.sha256)]
    [agent] = agents_repo.list_for_clinic("demo", limit=50, next_token=None).items
    assert agent.quarantined == 1


def test_heartbeat_updates_the_agent_and_ignores_older_ones(cloud: ResourceNames) -> None:
    newer, older = make_heartbeat(minute=30), make_heartbeat(minute=5)
    key = heartbeat_object_key(newer)
    put_object(cloud, key, newer.model_dump_json().encode())
    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []
    put_object(cloud, key, older.model_dump_json().encode())
    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []

    [agent] = agents_repo.list_for_clinic("demo", limit=50, next_token=None).items
    assert agent.agent_id == "agent-1"
    assert agent.sent_at == newer.sent_at
    assert agent.counts == {"uploaded": 7, "quarantined": 1, "received": 0}


def test_an_error_shows_with_its_time_until_a_later_heartbeat_clears_it(cloud: ResourceNames) -> None:
    failing = make_heartbeat(minute=10).model_copy(
        update={"last_error": "s3_unreachable: connect timeout", "last_error_at": RECEIVED.replace(minute=9)}
    )
    recovered = make_heartbeat(minute=20)  # the agent sends no last_error once uploads succeed again
    key = heartbeat_object_key(failing)
    for heartbeat in (failing, recovered):
        put_object(cloud, key, heartbeat.model_dump_json().encode())
        assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []
        [agent] = agents_repo.list_for_clinic("demo", limit=50, next_token=None).items
        assert (agent.last_error, agent.last_error_at) == (heartbeat.last_error, heartbeat.last_error_at)


def test_heartbeat_naming_another_agent_than_its_key_is_quarantined_not_retried(cloud: ResourceNames) -> None:
    """agents/{clinic}/{agent}/ is the one prefix whose key names the agent that wrote it (its credentials may
    write only there): a body claiming another agent is kept in the cloud's quarantine, never in the DLQ."""
    heartbeat = make_heartbeat(agent_id="agent-1")
    key = put_object(cloud, "agents/demo/agent-2/heartbeat.json", heartbeat.model_dump_json().encode())
    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []
    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []  # a redelivery: recorded once
    [item] = quarantine_repo.list_for_clinic("demo", limit=10, next_token=None).items
    assert (item.reason, item.agent_id, item.raw_key) == ("agent_mismatch", "agent-2", key)
    assert "agent 'agent-2'" in item.detail and "agent 'agent-1'" in item.detail
    agents = {a.agent_id: a for a in agents_repo.list_for_clinic("demo", limit=50, next_token=None).items}
    assert "agent-1" not in agents  # the agent the body named: nothing written for it
    assert agents["agent-2"].sent_at is None and agents["agent-2"].counts == {}  # no heartbeat stored for the key's


@pytest.mark.parametrize("prefix", ["raw", "scans"])
def test_keys_outside_the_ingest_prefixes_are_rejected(cloud: ResourceNames, prefix: str) -> None:
    key = put_object(cloud, f"{prefix}/demo/x.json", b"{}")
    assert failed_ids(handle(s3_notification(cloud.bucket, key))) == ["m0"]


def test_app_wires_the_same_handler_as_lambda_function_ingest(cloud: ResourceNames) -> None:
    from app import app

    key = put_envelope(cloud, make_envelope())
    with Client(app) as client:
        result = client.lambda_.invoke("ingest", sqs_event(s3_notification(cloud.bucket, key), "poison"))

    assert result.payload == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert len(patient_readings()) == 4


def test_a_future_dated_envelope_delivered_twice_is_quarantined_once(cloud: ResourceNames) -> None:
    """Cloud quarantine records are keyed by time and sha256: they take the notification's eventTime (the same in
    every redelivery), not the time of delivery, which made a second record per SQS redelivery."""
    key = put_envelope(cloud, make_envelope(seed="ahead", captured_at=datetime.now(UTC) + timedelta(days=365)))
    for _ in range(2):
        assert failed_ids(handle(s3_notification(cloud.bucket, key))) == []
    [item] = quarantine_repo.list_for_clinic("demo", limit=10, next_token=None).items
    assert item.reason == "future_timestamp" and item.quarantined_at == RECEIVED
    assert patient_readings() == []
