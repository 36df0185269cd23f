"""The local event router: Lambda-shaped events, delete on success, redelivery and DLQ for poison messages."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.resources import DLQ_MAX_RECEIVE_COUNT, ResourceNames
from chalicelib.services.roles import Role
from chalicelib.settings import get_settings
from localdev.router import FakeLambdaContext, Router, run, to_lambda_event
from tests.cloud.builders import REGION, bearer, make_envelope, put_envelope, put_object


def _sqs() -> Any:
    return boto3.client("sqs", region_name=REGION, endpoint_url=get_settings().endpoint_url)


def _depth(queue: str) -> int:
    sqs = _sqs()
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_lambda_event_shape() -> None:
    message = {"MessageId": "id-1", "ReceiptHandle": "rh", "Body": "{}", "Attributes": {"ApproximateReceiveCount": "1"}}
    [record] = to_lambda_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")["Records"]
    assert record["messageId"] == "id-1"
    assert record["receiptHandle"] == "rh"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":q")
    assert record["md5OfBody"] == hashlib.md5(b"{}").hexdigest()  # noqa: S324 - SQS uses MD5
    assert FakeLambdaContext().get_remaining_time_in_millis() > 0


def test_successes_are_deleted_and_failures_stay(cloud: ResourceNames) -> None:
    calls: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "poison"]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

    router = Router(get_settings(), handler=handler, retry_after_seconds=30)
    sqs = _sqs()
    for body in ("poison", "fine"):
        sqs.send_message(QueueUrl=router.queue_url, MessageBody=body)

    done, failed = 0, 0
    for _ in range(5):  # the queue also holds S3's TestEvent from ensure_resources
        ok, bad = router.poll_once(wait_seconds=0)
        done, failed = done + ok, failed + bad
        if done + failed >= 3:
            break
    assert (done, failed) == (2, 1)
    assert _depth(cloud.queue) == 1  # the poison message, invisible until it is retried


def test_a_raising_handler_fails_the_whole_batch(cloud: ResourceNames) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    router = Router(get_settings(), handler=handler, retry_after_seconds=30)
    ok, bad = router.poll_once(wait_seconds=0)  # S3's TestEvent
    assert (ok, bad) == (0, 1)
    assert _depth(cloud.queue) == 1


@pytest.mark.integration
def test_envelope_in_the_bucket_reaches_the_api(cloud_server: ResourceNames) -> None:
    """moto server: bucket → S3 notification → SQS → router → ingest handler → DynamoDB → REST API."""
    from app import app

    stop = threading.Event()
    worker = threading.Thread(target=run, args=(stop, get_settings()), kwargs={"retry_after_seconds": 1}, daemon=True)
    worker.start()
    try:
        put_envelope(cloud_server, make_envelope(patient_id="P-77"))
        deadline, items = time.monotonic() + 15, []
        with Client(app) as client:
            while time.monotonic() < deadline and not items:
                response = client.http.get("/patients/P-77/readings", headers=bearer("demo"))
                assert response.status_code in (200, 404)  # 404 until the first capture makes the patient known
                items = response.json_body.get("items", [])
                time.sleep(0.2)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert sorted(item["reading"]["iop_mmhg"] for item in items) == [15.0, 16.0, 18.3, 24.0]


@pytest.mark.integration
def test_poison_object_ends_in_the_dlq(cloud_server: ResourceNames) -> None:
    router = Router(get_settings(), retry_after_seconds=0)
    put_object(cloud_server, "envelopes/demo/2026/11/03/broken.json", b"{not an envelope")
    for _ in range(DLQ_MAX_RECEIVE_COUNT + 5):
        router.poll_once(wait_seconds=1)
        if _depth(cloud_server.dlq):
            break
    assert _depth(cloud_server.dlq) == 1
    assert _depth(cloud_server.queue) == 0


@pytest.mark.integration
def test_scan_upload_gets_its_thumbnail_through_the_router(cloud_server: ResourceNames) -> None:
    """moto server: patient upload into the scans bucket → S3 notification → thumbnails queue → router →
    thumbnails handler → WebP beside the original, linked on the image staff open through the API."""
    from app import app
    from tests.cloud.images import photo

    patient = bearer("demo", Role.PATIENT, patient_id="P-SCAN")
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(stop, get_settings()), kwargs={"retry_after_seconds": 1}, daemon=True)
    worker.start()
    try:
        with Client(app) as client:
            session_id = client.http.post("/patient/scans/sessions", headers=patient).json_body["id"]
            body = {"session_id": session_id, "image_type": "FRONT", "content_type": "image/jpeg"}
            target = _json(client, "/patient/scans/upload-url", patient, body)
            s3 = boto3.client("s3", region_name=REGION, endpoint_url=get_settings().endpoint_url)
            s3.put_object(Bucket=cloud_server.scans_bucket, Key=target["key"], Body=photo((1600, 1200)))
            confirm = {"session_id": session_id, "image_type": "FRONT", "key": target["key"]}
            _json(client, "/patient/scans/upload/confirm", patient, confirm)
            deadline, image = time.monotonic() + 20, {}
            while time.monotonic() < deadline and not image.get("thumbnail_key"):
                view = client.http.get(f"/scans/sessions/{session_id}", headers=bearer("demo", Role.DOCTOR))
                image = view.json_body["images"][0]
                time.sleep(0.3)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert image["thumbnail_key"] == target["key"].replace(".jpg", ".thumb.webp"), image
    assert image["thumbnail_status"] == "ready" and "X-Amz-Signature=" in image["thumbnail_url"]
    preview = s3.get_object(Bucket=cloud_server.scans_bucket, Key=image["thumbnail_key"])["Body"].read()
    assert preview[8:12] == b"WEBP"


def _json(client: Client, path: str, headers: dict[str, str], body: Any) -> Any:
    import json

    response = client.http.post(path, headers={**headers, "Content-Type": "application/json"}, body=json.dumps(body))
    assert response.status_code in (200, 201), response.body
    return response.json_body
