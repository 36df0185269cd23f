"""Reading keys in practice: separator characters in ids and envelopes without a capture time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalice.test import Client

from chalicelib.events.ingest import lambda_handler
from chalicelib.resources import ResourceNames
from localdev.router import FakeLambdaContext
from tests.cloud.builders import bearer, make_envelope, put_envelope, s3_notification, sqs_event


def ingest(names: ResourceNames, key: str) -> None:
    response = lambda_handler(sqs_event(s3_notification(names.bucket, key)), FakeLambdaContext())
    assert response["batchItemFailures"] == []


def test_patient_id_with_separator_characters_stays_in_its_own_partition(cloud: ResourceNames, api: Client) -> None:
    ingest(cloud, put_envelope(cloud, make_envelope(seed="hash", patient_id="P#1")))
    headers = bearer("demo")
    assert len(api.http.get("/patients/P%231/readings", headers=headers).json_body["items"]) == 4
    assert api.http.get("/patients/P/readings", headers=headers).status_code == 404  # no patient "P" at all


def test_readings_without_capture_time_sort_by_receipt(cloud: ResourceNames, api: Client) -> None:
    ingest(cloud, put_envelope(cloud, make_envelope(seed="undated", captured_at=None)))
    items = api.http.get("/patients/P-1001/readings", headers=bearer("demo")).json_body["items"]
    assert len(items) == 4 and items[0]["captured_at"] is None
    assert datetime.fromisoformat(items[0]["received_at"]) - datetime(2026, 11, 3, 9, 15, tzinfo=UTC) == timedelta(0)
