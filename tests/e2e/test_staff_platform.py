"""End to end, over real HTTP against `make run`'s stack: an organisation admin opens a second clinic and
creates staff of several roles; each does what its role allows and is refused the rest; a patient is
registered, found and given an unmatched device capture; the second clinic sees none of it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local_stack import LocalStack, _eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PHOTO = "photos/DIAGNijmegen__rse-panimg__test_rgb.jpg"  # a camera image: no patient id in it
PASSWORD = "a-long-staff-password-42"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path_factory.mktemp("staff") / "var")
    stack.start()
    yield stack
    stack.stop()


class Staff:
    def __init__(self, stack: LocalStack, token: str) -> None:
        self.stack, self.token = stack, token

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        return self.stack.call(method, path, body, token=self.token)


def _log_in(stack: LocalStack, email: str, password: str = PASSWORD) -> Staff:
    status, body = stack.call("POST", "/auth/login", {"email": email, "password": password})
    assert status == 200, body
    return Staff(stack, body["access_token"])


def _hire(admin: Staff, role: str, clinic: str | None = None) -> Staff:
    email = f"{role}@{clinic or 'demo'}.clinic.test"
    body: dict[str, Any] = {"email": email, "password": PASSWORD, "role": role, "name": role.title()}
    if clinic:
        body["clinic_id"] = clinic
    status, user = admin("POST", "/users", body)
    assert status == 201, user
    assert user["id"] and user["role"] == role
    return _log_in(admin.stack, email)


def test_a_clinic_day_for_its_staff_and_nothing_for_the_other_clinic(running: LocalStack, corpus_dir: Path) -> None:
    admin = Staff(running, running.login())
    receptionist, nurse, cashier, manager = (_hire(admin, r) for r in ("receptionist", "nurse", "cashier", "manager"))

    # The receptionist registers a patient; the clinic issues the OP number.
    patient = {"first_name": "Amani", "last_name": "Okello", "sex": "FEMALE", "date_of_birth": "1992-03-14",
               "phone": "+254712345678", "insurance_type": "CASH"}  # fmt: skip
    status, registered = receptionist("POST", "/patients", patient)
    assert status == 201, registered
    patient_id, op_number = registered["id"], registered["op_number"]
    assert op_number
    # The same person again is a duplicate, unless forced.
    status, duplicate = receptionist("POST", "/patients", patient)
    assert status == 409 and duplicate["code"] == "duplicate_patient", duplicate

    # Found by name prefix (any case, accents ignored), phone and OP number.
    for query in ("oke", "OKELLO", "+254712345678", op_number):
        status, found = receptionist("GET", f"/patients?q={query}")
        assert status == 200 and [hit["id"] for hit in found["items"]] == [patient_id], (query, found)

    # Roles: the nurse reads the record, the cashier may not register or read device readings,
    # the manager reads the audit trail and the nurse may not.
    assert nurse("GET", f"/patients/{patient_id}")[0] == 200
    assert cashier("POST", "/patients", patient)[0] == 403
    assert cashier("GET", f"/patients/{patient_id}/readings")[0] == 403
    assert nurse("GET", "/audit")[0] == 403
    status, trail = manager("GET", f"/audit?resource=patient&resource_id={patient_id}")
    assert status == 200, trail
    actions = {entry["action"] for entry in trail["items"]}
    assert {"patient.registered", "patient.read"} <= actions, actions

    # A camera image without a patient id arrives unmatched; the nurse assigns it to the patient.
    shutil.copy(corpus_dir / PHOTO, running.var / "inbox" / "photo.jpg")
    unmatched = _eventually(lambda: nurse("GET", "/readings/unmatched")[1]["items"])
    assert unmatched, "no unmatched capture within 15 s\n" + running.logs()
    envelope_id = unmatched[0]["envelope_id"]
    status, assigned = nurse("POST", f"/readings/unmatched/{envelope_id}/assign", {"patient_id": patient_id})
    assert status == 200, assigned
    status, readings = nurse("GET", f"/patients/{patient_id}/readings")
    assert status == 200 and [r["envelope_id"] for r in readings["items"]] == [envelope_id], readings
    assert envelope_id not in [e["envelope_id"] for e in nurse("GET", "/readings/unmatched")[1]["items"]]

    # The organisation admin opens a second clinic with its own admin: it sees none of the first's data.
    status, clinic = admin("POST", "/clinics", {"name": "Goma Eye Clinic", "timezone": "Africa/Lubumbashi",
                                                 "currency": "CDF"})  # fmt: skip
    assert status == 201, clinic
    other = _hire(admin, "admin", clinic=clinic["id"])
    assert other("GET", f"/patients/{patient_id}")[0] == 404
    assert other("GET", "/patients?q=oke")[1]["items"] == []
    assert other("GET", "/readings/unmatched")[1]["items"] == []
    status, events = other("GET", "/events")
    assert status == 200 and all(e["clinic_id"] == clinic["id"] for e in events["items"]), events
    status, trail = other("GET", f"/audit?resource=patient&resource_id={patient_id}")
    assert status == 200 and trail["items"] == [], trail

    # The first clinic's events name the changes, with ids only.
    status, events = admin("GET", "/events")
    assert status == 200, events
    kinds = [e["type"] for e in events["items"]]
    assert "patient.registered" in kinds and "user.created" in kinds, kinds
    assert "Okello" not in str(events)

    # Force logout: the admin ends the nurse's sessions, whose token stops working at once.
    assert nurse("GET", f"/patients/{patient_id}")[0] == 200
    status, users = admin("GET", "/users")
    [nurse_user] = [u for u in users["items"] if u["role"] == "nurse"]
    assert admin("POST", f"/users/{nurse_user['id']}/sessions/end", {})[0] == 200
    status, refused = nurse("GET", f"/patients/{patient_id}")
    assert (status, refused["code"]) == (401, "session_ended")
