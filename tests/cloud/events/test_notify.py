"""Web push end to end on the moto server: the API's change writes its outbox event, the local router reads the
events table's stream and the notifications queue and runs the `notify` handler, which POSTs to a local push
service stand-in over real HTTP. The test decrypts what arrived (aes128gcm, http_ece) with the browser's private
key and checks the VAPID signature; 410 deletes the subscription, 500 keeps it and the job is tried again, and
a job that never succeeds ends in the DLQ. Nothing is mocked: pywebpush really sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import jwt
import pytest
from chalice.test import Client
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import aws
from chalicelib.db import push as subscriptions
from chalicelib.resources import NOTIFICATIONS_MAX_RECEIVE_COUNT, ResourceNames
from chalicelib.services.roles import Role
from chalicelib.settings import Settings, get_settings, use_settings
from chalicelib.vapid import b64url_decode
from localdev.bootstrap import ensure_resources
from localdev.router import Router, StreamReader, notify_handler, run
from tests.cloud.api.portal_helpers import new_patient, send
from tests.cloud.builders import JWT_SECRET, REGION, VAPID_PRIVATE_KEY, VAPID_PUBLIC_KEY, VAPID_SUBJECT, bearer
from tests.cloud.events.push_service import Browser, PushService, push_service

pytestmark = pytest.mark.integration

CLINIC = "clinic-push"


@pytest.fixture
def stack(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ResourceNames]:
    """Stage `local` (a push service on 127.0.0.1 may be plain http) on the moto server; failed pushes retry at once."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    use_settings(
        Settings(stage="local", region=REGION, endpoint_url=aws_endpoint, jwt_secret=JWT_SECRET,
                 vapid_private_key=VAPID_PRIVATE_KEY, vapid_subject=VAPID_SUBJECT, push_retry_seconds=0)
    )  # fmt: skip
    aws.reset_clients()
    yield ensure_resources(aws_endpoint, "local", REGION)
    use_settings(None)
    aws.reset_clients()


@pytest.fixture
def api(stack: ResourceNames) -> Iterator[Client]:
    from app import app

    with Client(app) as client:
        yield client


@pytest.fixture
def service() -> Iterator[PushService]:
    with push_service() as running:
        yield running


class Worker:
    """The local router's two notify sources, polled until a condition holds."""

    def __init__(self, names: ResourceNames) -> None:
        self.outbox = StreamReader(get_settings())  # from LATEST: created before the events it must see
        self.jobs = Router(get_settings(), notify_handler(), None, queue=names.notifications_queue)
        self.failures = 0

    def until(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the notification did not arrive in time"
            self.outbox.poll_once()
            _, failed = self.jobs.poll_once(wait_seconds=0)
            self.failures += failed


def patient(patient_id: str) -> dict[str, str]:
    return bearer(CLINIC, Role.PATIENT, user_id=f"pu-{patient_id}", patient_id=patient_id)


def subscribe(api: Client, patient_id: str, endpoint: str, browser: Browser) -> str:
    response = send(api, "POST", "/patient/push/subscribe", {"endpoint": endpoint, "keys": browser.keys},
                    patient(patient_id))  # fmt: skip
    assert response.status_code == 200, response.body
    return str(response.json_body["id"])


def reviewed_scan(api: Client, patient_id: str) -> str:
    opened = send(api, "POST", "/patient/scans/sessions", None, patient(patient_id))
    assert opened.status_code == 201, opened.body
    session_id = str(opened.json_body["id"])
    reviewed = send(api, "PATCH", f"/scans/sessions/{session_id}/status", {"status": "REVIEWED"},
                    bearer(CLINIC, Role.DOCTOR, user_id="u-doctor"))  # fmt: skip
    assert reviewed.status_code == 200, reviewed.body
    return session_id


def _depth(queue: str) -> int:
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=get_settings().endpoint_url)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def _vapid_claims(authorization: str, audience: str) -> dict[str, Any]:
    """RFC 8292 `vapid t=<JWT>, k=<public key>`: the key is ours and signs the token."""
    fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("vapid ").split(","))
    assert fields["k"] == VAPID_PUBLIC_KEY
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(fields["k"]))
    return dict(jwt.decode(fields["t"], key, algorithms=["ES256"], audience=audience))


def test_a_reviewed_scan_reaches_the_browser_encrypted_and_signed_after_the_request(
    api: Client, stack: ResourceNames, service: PushService
) -> None:
    browser = Browser()
    subscribe(api, "P-PUSH-1", service.endpoint("browser-1"), browser)
    worker = Worker(stack)

    session_id = reviewed_scan(api, "P-PUSH-1")
    assert service.received == []  # the request only wrote its outbox event: delivery is the worker's
    worker.until(lambda: len(service.received) == 1)

    [push] = service.received
    assert push.path == "/push/browser-1"
    assert push.headers["content-encoding"] == "aes128gcm"
    assert int(push.headers["ttl"]) > 0
    assert json.loads(browser.decrypt(push.body)) == {"title": "Scan reviewed", "session_id": session_id}
    claims = _vapid_claims(push.headers["authorization"], audience=service.url)
    assert claims["sub"] == VAPID_SUBJECT and claims["exp"] > time.time()
    assert _depth(stack.notifications_queue) == 0 and worker.failures == 0


def test_a_staff_message_notifies_every_browser_and_the_patient_s_own_message_does_not(
    api: Client, stack: ResourceNames, service: PushService
) -> None:
    patient_id = new_patient(api, CLINIC)
    phone, laptop = Browser(), Browser()
    subscribe(api, patient_id, service.endpoint("phone"), phone)
    subscribe(api, patient_id, service.endpoint("laptop"), laptop)
    worker = Worker(stack)
    doctor = bearer(CLINIC, Role.DOCTOR, user_id="u-doctor")

    thread = send(api, "POST", "/messaging/threads", {"patient_id": patient_id, "subject": "Your results"}, doctor)
    assert thread.status_code == 201, thread.body
    thread_id = thread.json_body["id"]
    own = send(api, "POST", "/patient/messages", {"thread_id": thread_id, "content": "Thanks"}, patient(patient_id))
    assert own.status_code == 201, own.body
    staff = send(api, "POST", "/messaging/messages", {"thread_id": thread_id, "content": "Results are fine"}, doctor)
    assert staff.status_code == 201, staff.body
    worker.until(lambda: len(service.received) == 2)
    worker.until(lambda: _depth(stack.notifications_queue) == 0)

    by_path = {push.path: push for push in service.received}
    assert set(by_path) == {"/push/phone", "/push/laptop"}
    for path, browser in (("/push/phone", phone), ("/push/laptop", laptop)):
        payload = json.loads(browser.decrypt(by_path[path].body))
        assert payload == {"title": "New message", "thread_id": thread_id}  # no content, no names
    assert len(service.received) == 2  # the patient's own message notified nobody


def test_a_410_deletes_the_subscription(api: Client, stack: ResourceNames, service: PushService) -> None:
    sub_id = subscribe(api, "P-PUSH-2", service.endpoint("expired"), Browser())
    worker = Worker(stack)
    service.statuses = [410]

    reviewed_scan(api, "P-PUSH-2")
    worker.until(lambda: subscriptions.get(CLINIC, "P-PUSH-2", sub_id) is None)

    assert len(service.received) == 1
    assert subscriptions.of_patient(CLINIC, "P-PUSH-2") == []
    worker.until(lambda: _depth(stack.notifications_queue) == 0)
    assert worker.failures == 0  # gone is an answer, not a failure


def test_a_500_keeps_the_subscription_and_the_job_is_tried_again(
    api: Client, stack: ResourceNames, service: PushService
) -> None:
    browser = Browser()
    sub_id = subscribe(api, "P-PUSH-3", service.endpoint("flaky"), browser)
    worker = Worker(stack)
    service.statuses = [500]

    session_id = reviewed_scan(api, "P-PUSH-3")
    worker.until(lambda: len(service.received) == 2)

    assert worker.failures == 1
    assert subscriptions.get(CLINIC, "P-PUSH-3", sub_id) is not None
    retried = json.loads(browser.decrypt(service.received[1].body))
    assert retried == {"title": "Scan reviewed", "session_id": session_id}
    worker.until(lambda: _depth(stack.notifications_queue) == 0)


def test_a_push_that_never_succeeds_ends_in_the_dlq_not_dropped(
    api: Client, stack: ResourceNames, service: PushService
) -> None:
    sub_id = subscribe(api, "P-PUSH-4", service.endpoint("down"), Browser())
    worker = Worker(stack)
    service.statuses = [503] * NOTIFICATIONS_MAX_RECEIVE_COUNT

    reviewed_scan(api, "P-PUSH-4")
    worker.until(lambda: _depth(stack.notifications_dlq) == 1)

    assert len(service.received) == NOTIFICATIONS_MAX_RECEIVE_COUNT
    assert _depth(stack.notifications_queue) == 0
    assert subscriptions.get(CLINIC, "P-PUSH-4", sub_id) is not None
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=get_settings().endpoint_url)
    url = sqs.get_queue_url(QueueName=stack.notifications_dlq)["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    job = json.loads(message["Body"])
    assert job["subscription_id"] == sub_id and job["type"] == "scan.reviewed"  # ids only: enough to redrive


def test_the_router_make_run_starts_delivers_pushes(api: Client, stack: ResourceNames, service: PushService) -> None:
    """`localdev.router.run`, as `make run` runs it: the stream reader starts at LATEST a moment after the
    thread, so scans are reviewed until one is delivered (the first may precede the reader)."""
    browser = Browser()
    subscribe(api, "P-PUSH-5", service.endpoint("router"), browser)
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop, get_settings()), daemon=True)
    thread.start()
    try:
        reviewed: list[str] = []
        deadline = time.monotonic() + 60
        while not service.received:
            assert time.monotonic() < deadline, "the router delivered nothing"
            reviewed.append(reviewed_scan(api, "P-PUSH-5"))
            wait_until = time.monotonic() + 4
            while not service.received and time.monotonic() < wait_until:
                time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=15)
    payload = json.loads(browser.decrypt(service.received[0].body))
    assert payload["title"] == "Scan reviewed" and payload["session_id"] in reviewed
