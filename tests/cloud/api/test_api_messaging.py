"""Messaging (seed 000 §4): staff threads and messages, the patient's side with unread counts kept on write,
reads marked once, content kept as text, `message.new` events without content, and no reach into another
patient's threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import botocore.endpoint
import pytest
from chalice.test import Client

from chalicelib.db import events as events_repo
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from tests.cloud.api.portal_helpers import PatientLogin, enrol, new_patient, send
from tests.cloud.builders import bearer
from tests.cloud.dynamo_calls import recorded

CLINIC = "msg-clinic"


def doctor() -> dict[str, str]:
    return bearer(CLINIC, Role.DOCTOR, user_id="u-doc")


def nurse() -> dict[str, str]:
    return bearer(CLINIC, Role.NURSE, user_id="u-nurse")


def _thread(api: Client, patient_id: str, subject: str = "About your last scan") -> str:
    response = send(api, "POST", "/messaging/threads", {"patientId": patient_id, "subject": subject}, doctor())
    assert response.status_code == 201, response.body
    return str(response.json_body["id"])


def _staff_says(api: Client, thread_id: str, content: str, headers: dict[str, str] | None = None) -> Any:
    body = {"thread_id": thread_id, "content": content}
    return send(api, "POST", "/messaging/messages", body, headers or doctor())


def _unread(api: Client, patient: PatientLogin) -> dict[str, int]:
    response = api.http.get("/patient/messages", headers=patient.headers)
    assert response.status_code == 200, response.body
    return {item["id"]: item["unread_count"] for item in response.json_body["items"]}


@pytest.fixture
def patient(cloud: ResourceNames, api: Client) -> PatientLogin:
    return enrol(api, CLINIC, new_patient(api, CLINIC), "amani@example.test")


def test_unread_counts_follow_messages_and_reads(cloud: ResourceNames, api: Client, patient: PatientLogin) -> None:
    thread_id = _thread(api, patient.patient_id)
    quiet = _thread(api, patient.patient_id, "Appointment")
    html = '<script>alert("x")</script> & <b>bold</b>'
    sent = [_staff_says(api, thread_id, "Your scan looks good."), _staff_says(api, thread_id, html, nurse()),
            _staff_says(api, thread_id, "Brush twice a day.")]  # fmt: skip
    assert [r.status_code for r in sent] == [201] * 3
    assert [r.json_body["sender_type"] for r in sent] == ["DOCTOR", "STAFF", "DOCTOR"]
    assert _unread(api, patient) == {thread_id: 3, quiet: 0}

    # Listing reads the counters: one Query (and the read's audit entry), whatever the number of messages.
    with recorded() as calls:
        api.http.get("/patient/messages", headers=patient.headers)
    assert [operation for operation, _ in calls].count("Query") == 1

    opened = api.http.get(f"/patient/messages/{thread_id}", headers=patient.headers).json_body
    assert [m["content"] for m in opened["messages"]] == ["Your scan looks good.", html, "Brush twice a day."]
    assert all(m["read_at"] is None for m in opened["messages"])
    first, second = opened["messages"][0]["id"], opened["messages"][1]["id"]

    read = send(api, "PATCH", f"/patient/messages/{first}/read", headers=patient.headers)
    assert read.status_code == 200 and read.json_body["read_at"] is not None
    assert _unread(api, patient)[thread_id] == 2
    again = send(api, "PATCH", f"/patient/messages/{first}/read", headers=patient.headers)
    assert again.status_code == 200 and again.json_body["read_at"] == read.json_body["read_at"]
    assert _unread(api, patient)[thread_id] == 2  # idempotent: counted once

    before = opened["updated_at"]
    answer = send(api, "POST", "/patient/messages", {"threadId": thread_id, "content": "Thank you!"}, patient.headers)
    assert answer.status_code == 201, answer.body
    assert answer.json_body["sender_type"] == "PATIENT"
    own = send(api, "PATCH", f"/patient/messages/{answer.json_body['id']}/read", headers=patient.headers)
    assert own.status_code == 200 and own.json_body["read_at"] is None  # the patient's own: nothing to read
    send(api, "PATCH", f"/patient/messages/{second}/read", headers=patient.headers)
    assert _unread(api, patient) == {thread_id: 1, quiet: 0}

    staff_view = api.http.get(f"/messaging/threads/{thread_id}", headers=nurse()).json_body
    assert [m["sender_type"] for m in staff_view["messages"]] == ["DOCTOR", "STAFF", "DOCTOR", "PATIENT"]
    assert staff_view["updated_at"] > before and staff_view["message_count"] == 4
    listed = api.http.get(f"/messaging/threads?patient_id={patient.patient_id}", headers=nurse()).json_body["items"]
    assert [t["id"] for t in listed] == [thread_id, quiet]  # most recently updated first
    clinic_wide = api.http.get("/messaging/threads", headers=nurse()).json_body["items"]
    assert [t["id"] for t in clinic_wide] == [thread_id, quiet]

    events = [e for e in events_repo.after(CLINIC, None, limit=100, next_token=None).items if e.type == "message.new"]
    assert [e.subject["sender_type"] for e in events] == ["DOCTOR", "STAFF", "DOCTOR", "PATIENT"]
    assert all(set(e.subject) == {"thread_id", "message_id", "patient_id", "sender_type"} for e in events)
    assert "script" not in str([e.subject for e in events])


def test_another_patient_reaches_none_of_it(cloud: ResourceNames, api: Client, patient: PatientLogin) -> None:
    thread_id = _thread(api, patient.patient_id)
    message_id = _staff_says(api, thread_id, "For Amani only.").json_body["id"]
    other = enrol(api, CLINIC, new_patient(api, CLINIC, "Baraka", "+254712000002"), "baraka@example.test")

    for method, path, body in (
        ("GET", f"/patient/messages/{thread_id}", None),
        ("PATCH", f"/patient/messages/{message_id}/read", None),
        ("POST", "/patient/messages", {"thread_id": thread_id, "content": "hello"}),
    ):
        response = send(api, method, path, body, other.headers)
        assert (response.status_code, response.json_body["code"]) == (404, "not_found"), (method, path)
        assert "For Amani" not in str(response.body)
    assert _unread(api, other) == {}
    assert _unread(api, patient) == {thread_id: 1}  # untouched by the other's attempt
    # Staff of another clinic: the thread does not exist there.
    elsewhere = bearer("another-clinic", Role.DOCTOR)
    assert api.http.get(f"/messaging/threads/{thread_id}", headers=elsewhere).status_code == 404
    assert _staff_says(api, thread_id, "hi", elsewhere).status_code == 404


def test_threads_only_for_patients_of_the_clinic(cloud: ResourceNames, api: Client) -> None:
    patient_id = new_patient(api, CLINIC)
    for headers, target in ((bearer("another-clinic", Role.DOCTOR), patient_id), (doctor(), "P-unknown")):
        response = send(api, "POST", "/messaging/threads", {"patient_id": target, "subject": "Hi"}, headers)
        assert (response.status_code, response.json_body["code"]) == (404, "not_found")
    receptionist = send(api, "POST", "/messaging/threads", {"patient_id": patient_id, "subject": "Hi"},
                        bearer(CLINIC, Role.RECEPTIONIST))  # fmt: skip
    assert receptionist.status_code == 403


@pytest.mark.parametrize(
    ("content", "ok"), [("", False), ("   ", False), ("x" * 5001, False), ("x" * 5000, True), ("é" * 10, True)]
)
def test_content_length_limits(cloud: ResourceNames, api: Client, content: str, ok: bool) -> None:
    thread_id = _thread(api, new_patient(api, CLINIC))
    response = _staff_says(api, thread_id, content)
    if ok:
        assert response.status_code == 201 and response.json_body["content"] == content
    else:
        assert (response.status_code, response.json_body["field"]) == (422, "content")


def test_concurrent_reads_of_one_message_count_once(
    cloud: ResourceNames, api: Client, patient: PatientLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = _thread(api, patient.patient_id)
    message_id = _staff_says(api, thread_id, "Read me").json_body["id"]
    _staff_says(api, thread_id, "And me")
    lock, real_send = threading.Lock(), botocore.endpoint.Endpoint._do_get_response

    def atomic_send(self: Any, request: Any, operation_model: Any, context: Any) -> Any:  # moto: one request at a time
        with lock:
            return real_send(self, request, operation_model, context)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_do_get_response", atomic_send)
    from chalicelib.services import messaging
    from chalicelib.services.scope import Origin, Scope
    from chalicelib.services.tokens import verify
    from chalicelib.settings import get_settings

    scope = Scope.of_request(verify(patient.access_token, get_settings()), Origin())
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda _: messaging.mark_read(scope, message_id), range(5)))
    assert all(a.read_at is not None for a in answers)
    assert _unread(api, patient) == {thread_id: 1}
    assert datetime.now(UTC) >= answers[0].read_at  # type: ignore[operator]
