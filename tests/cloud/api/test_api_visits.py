"""Visits: opening (POST /visits), the interface other domains use (visits.require / require_for_patient,
charges.add), statuses (PUT /visits/{visit_id}), the queue and a patient's visits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import events as events_repo
from chalicelib.db import store
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.resources import ResourceNames
from chalicelib.services import audit, charges, visits
from chalicelib.services.charges import ChargeKind
from chalicelib.services.roles import Role
from chalicelib.services.scope import Origin, Scope
from tests.cloud.api.journey_helpers import (
    CLINIC,
    OTHER,
    move,
    new_visit,
    open_visit,
    race,
    register,
    send,
    set_price,
)


def _events(clinic: str = CLINIC) -> list[tuple[str, dict[str, str]]]:
    page = events_repo.after(clinic, None, limit=200, next_token=None)
    return [(event.type, dict(event.subject)) for event in page.items]


def test_opening_a_visit_answers_201_registered_with_its_consultation_charge(cloud: ResourceNames, api: Client) -> None:
    set_price(api, "CONSULTATION", "CONSULTATION", "500.00")
    patient = register(api)

    visit = open_visit(api, patient, payment_reference="MPESA-1")

    assert visit["status"] == "REGISTERED"
    assert visit["patient_id"] == patient
    assert visit["payment_reference"] == "MPESA-1"
    assert (visit["charges_total"], visit["paid_total"], visit["balance"]) == ("500.00", "0.00", "500.00")
    assert visit["payment_status"] == "UNPAID"
    status, read = send(api, "GET", f"/visits/{visit['id']}", role=Role.NURSE)
    assert status == 200 and read == visit
    types = [event_type for event_type, _ in _events()]
    assert "visit.opened" in types and "visit.status_changed" in types


def test_a_visit_needs_a_registered_patient_of_the_clinic(cloud: ResourceNames, api: Client) -> None:
    elsewhere = register(api, clinic=OTHER)
    for patient in ("nobody", elsewhere):
        status, body = send(api, "POST", "/visits", new_visit(patient), role=Role.RECEPTIONIST)
        assert (status, body["code"], body.get("field")) == (404, "not_found", "patient_id")


def test_one_open_visit_per_patient_409_names_it_then_a_new_one_after_completion(
    cloud: ResourceNames, api: Client
) -> None:
    patient = register(api)
    first = open_visit(api, patient)

    status, body = send(api, "POST", "/visits", new_visit(patient), role=Role.RECEPTIONIST)
    assert (status, body["code"], body["existing_id"]) == (409, "visit_already_open", first["id"])

    move(api, first["id"], "TRIAGED", "IN_CONSULTATION", "COMPLETED")
    second = open_visit(api, patient)
    assert second["id"] != first["id"]


def test_concurrent_openings_for_one_patient_open_exactly_one(
    cloud: ResourceNames, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient = register(api)
    results: list[tuple[int, Any]] = race(
        monkeypatch, [lambda: send(api, "POST", "/visits", new_visit(patient), role=Role.RECEPTIONIST)] * 4
    )
    assert sorted(status for status, _ in results) == [201, 409, 409, 409]
    (opened,) = [body for status, body in results if status == 201]
    assert all(body["existing_id"] == opened["id"] for status, body in results if status == 409)


def test_another_clinics_visit_is_404_for_every_visit_route(cloud: ResourceNames, api: Client) -> None:
    visit = open_visit(api, register(api, clinic=OTHER), clinic=OTHER)
    for method, body in (("GET", None), ("PUT", {"status": "TRIAGED"})):
        status, answer = send(api, method, f"/visits/{visit['id']}", body)
        assert (status, answer["code"], answer.get("field")) == (404, "not_found", "visit_id")
    status, answer = send(api, "GET", f"/visits/{visit['id']}", clinic=OTHER)
    assert status == 200 and answer["status"] == "REGISTERED"


def test_require_and_require_for_patient(cloud: ResourceNames, api: Client) -> None:
    patient, other_patient = register(api), register(api)
    visit = open_visit(api, patient)
    scope = Scope.system(CLINIC, "user:u-test")

    assert visits.require(scope, visit["id"]).patient_id == patient
    assert visits.require_for_patient(scope, visit["id"], patient).id == visit["id"]
    with pytest.raises(InvalidInput) as mismatch:
        visits.require_for_patient(scope, visit["id"], other_patient)
    assert (mismatch.value.code, mismatch.value.field) == ("visit_patient_mismatch", "visit_id")
    for wrong in (Scope.system(OTHER, "user:u-test"),):
        with pytest.raises(NotFound) as missing:
            visits.require(wrong, visit["id"])
        assert missing.value.field == "visit_id"
    with pytest.raises(NotFound):
        visits.require(scope, "no-such-visit")


def test_a_patient_token_reaches_only_its_own_visits(cloud: ResourceNames, api: Client) -> None:
    from chalicelib.services.tokens import Principal

    patient, other_patient = register(api), register(api)
    own, other = open_visit(api, patient), open_visit(api, other_patient)
    principal = Principal(user_id=patient, clinic_id=CLINIC, role=Role.PATIENT, token_id="t", patient_id=patient)
    scope = Scope.of_request(principal, Origin())
    assert visits.require(scope, own["id"]).id == own["id"]
    with pytest.raises(NotFound):
        visits.require(scope, other["id"])


def test_charges_add_accumulates_several_charges_into_one_total_update(cloud: ResourceNames, api: Client) -> None:
    set_price(api, "LAB_TEST", "FBC", "350.00")
    set_price(api, "LAB_TEST", "DEFAULT", "100.50")
    visit_id = open_visit(api, register(api))["id"]
    scope = Scope.system(CLINIC, "user:u-lab")
    visit = visits.require(scope, visit_id)

    with audit.change(scope, "lab.requested", resource="lab_request", resource_id="lr-1") as c:
        charges.add(c, scope, visit, kind=ChargeKind.LAB_TEST, code="FBC", description="Full blood count")
        charges.add(c, scope, visit, kind=ChargeKind.LAB_TEST, code="MALARIA", description="Malaria RDT",
                    quantity=2)  # fmt: skip
        charges.add(c, scope, visit, kind=ChargeKind.MEDICATION, code="PCM500", description="Paracetamol")

    after = visits.require(scope, visit_id)
    assert after.charges_total == "551.00"  # 0.00 consultation (unpriced) + 350.00 + 2 x 100.50 + 0.00
    assert after.balance == "551.00"
    status, bill = send(api, "GET", f"/visits/{visit_id}/bill", role=Role.CASHIER)
    assert status == 200, bill
    lines = {(line["code"], line["quantity"], line["unit_price"], line["amount"], line["priced"])
             for line in bill["charges"]}  # fmt: skip
    assert lines == {
        ("CONSULTATION", 1, "0.00", "0.00", False),
        ("FBC", 1, "350.00", "350.00", True),
        ("MALARIA", 2, "100.50", "201.00", True),
        ("PCM500", 1, "0.00", "0.00", False),
    }
    assert (bill["charges_total"], bill["balance"], bill["payment_status"]) == ("551.00", "551.00", "UNPAID")


def test_charges_add_writes_nothing_when_the_change_fails(cloud: ResourceNames, api: Client) -> None:
    visit_id = open_visit(api, register(api))["id"]
    scope = Scope.system(CLINIC, "user:u-lab")
    visit = visits.require(scope, visit_id)
    vanished = visit.model_copy(update={"id": "0" * 32})

    with pytest.raises(store.ConditionFailed):
        with audit.change(scope, "lab.requested", resource="lab_request", resource_id="lr-2") as c:
            charges.add(c, scope, visit, kind=ChargeKind.LAB_TEST, code="FBC", description="Full blood count")
            charges.add(c, scope, vanished, kind=ChargeKind.LAB_TEST, code="FBC", description="Full blood count")

    assert visits.require(scope, visit_id).charges_total == "0.00"
    with pytest.raises(InvalidInput) as bad:
        with audit.change(scope, "lab.requested", resource="lab_request", resource_id="lr-3") as c:
            charges.add(c, scope, visit, kind=ChargeKind.LAB_TEST, code="FBC", description="x", quantity=0)
    assert bad.value.field == "quantity"


def test_the_journey_statuses_and_illegal_transitions(cloud: ResourceNames, api: Client) -> None:
    visit_id = open_visit(api, register(api))["id"]

    status, body = send(api, "PUT", f"/visits/{visit_id}", {"status": "IN_CONSULTATION"}, role=Role.NURSE)
    assert (status, body["code"], body["field"]) == (409, "illegal_transition", "status")
    assert "TRIAGED" in body["message"] and "CANCELLED" in body["message"]

    status, body = send(
        api,
        "PUT",
        f"/visits/{visit_id}",
        {"status": "TRIAGED", "triage_category": "URGENT", "chief_complaint": "Severe chest pain"},
        role=Role.NURSE,
    )
    assert (status, body["status"], body["triage_category"], body["chief_complaint"]) == (
        200, "TRIAGED", "URGENT", "Severe chest pain")  # fmt: skip
    moved = move(api, visit_id, "IN_CONSULTATION", "AWAITING_LAB", "AWAITING_PHARMACY", "IN_CONSULTATION",
                 "AWAITING_PAYMENT")  # fmt: skip
    assert moved["status"] == "AWAITING_PAYMENT"
    status, body = send(api, "PUT", f"/visits/{visit_id}", {"status": "COMPLETED",
                                                            "discharge_notes": "Stable; review in 3 days"},
                        role=Role.DOCTOR)  # fmt: skip
    assert (status, body["status"], body["discharge_notes"]) == (200, "COMPLETED", "Stable; review in 3 days")
    assert body["completed_at"] is not None

    status, body = send(api, "PUT", f"/visits/{visit_id}", {"status": "CANCELLED"}, role=Role.DOCTOR)
    assert (status, body["code"]) == (409, "illegal_transition")
    assert "none" in body["message"]
    changed = [s["status"] for t, s in _events() if t == "visit.status_changed" and s["visit_id"] == visit_id]
    assert changed == ["REGISTERED", "TRIAGED", "IN_CONSULTATION", "AWAITING_LAB", "AWAITING_PHARMACY",
                       "IN_CONSULTATION", "AWAITING_PAYMENT", "COMPLETED"]  # fmt: skip
    assert any(t == "visit.discharged" and s["visit_id"] == visit_id for t, s in _events())


def test_bad_visit_bodies_are_precise_422s(cloud: ResourceNames, api: Client) -> None:
    patient = register(api)
    visit_id = open_visit(api, patient)["id"]
    cases = [
        ("POST", "/visits", new_visit(patient, triage_category="SEVERE"), "triage_category"),
        ("POST", "/visits", new_visit(patient, payment_type="CARD"), "payment_type"),
        ("POST", "/visits", new_visit(patient, ward="B"), "ward"),
        ("POST", "/visits", {"patient_id": patient}, "chiefComplaint"),  # the platform names a missing field by alias
        ("PUT", f"/visits/{visit_id}", {"status": "DISCHARGED"}, "status"),
        ("PUT", f"/visits/{visit_id}", {"status": "TRIAGED", "discharge_notes": "x"}, "discharge_notes"),
        ("PUT", f"/visits/{visit_id}", {}, None),
    ]
    for method, path, body, field in cases:
        status, answer = send(api, method, path, body)
        assert status == 422, (path, body, answer)
        assert answer.get("field") == field, (body, answer)
    status, answer = send(api, "GET", "/visits?date=yesterday")
    assert (status, answer["field"]) == (422, "date")


def test_concurrent_transitions_one_wins_the_other_409(
    cloud: ResourceNames, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both requests read the visit as REGISTERED before either writes (a barrier after the read), so both
    transitions are legal on what they read: the conditional write lets exactly one through."""
    visit_id = open_visit(api, register(api))["id"]
    both_read = threading.Barrier(2)
    original_load = visits.load

    def load_then_wait(scope: Scope, wanted: str) -> Any:
        stored = original_load(scope, wanted)
        both_read.wait(timeout=30)
        return stored

    monkeypatch.setattr(visits, "load", load_then_wait)

    def attempt(target: str) -> Callable[[], tuple[int, Any]]:
        return lambda: send(api, "PUT", f"/visits/{visit_id}", {"status": target}, role=Role.NURSE)

    results = race(monkeypatch, [attempt("TRIAGED"), attempt("CANCELLED")])
    assert sorted(status for status, _ in results) == [200, 409]
    (lost,) = [body for status, body in results if status == 409]
    assert lost["code"] == "visit_changed"
    monkeypatch.setattr(visits, "load", original_load)
    _, final = send(api, "GET", f"/visits/{visit_id}")
    assert final["version"] == 2
    winner = [body["status"] for status, body in results if status == 200]
    assert final["status"] == winner[0]


def test_the_queue_is_the_days_visits_oldest_first_with_a_status_filter(cloud: ResourceNames, api: Client) -> None:
    patients = [register(api) for _ in range(3)]
    opened = [open_visit(api, patient)["id"] for patient in patients]
    move(api, opened[1], "TRIAGED")
    open_visit(api, register(api, clinic=OTHER), clinic=OTHER)

    status, page = send(api, "GET", "/visits", role=Role.RECEPTIONIST)
    assert status == 200
    assert [visit["id"] for visit in page["items"]] == opened
    status, page = send(api, "GET", "/visits?status=TRIAGED&limit=10")
    assert [visit["id"] for visit in page["items"]] == [opened[1]]
    status, page = send(api, "GET", "/visits?limit=2")
    assert [visit["id"] for visit in page["items"]] == opened[:2] and page["next"]
    status, rest = send(api, "GET", f"/visits?limit=2&next={page['next']}")
    assert [visit["id"] for visit in rest["items"]] == opened[2:]
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    status, page = send(api, "GET", f"/visits?date={yesterday}")
    assert (status, page["items"]) == (200, [])


def test_a_patients_visits_newest_first(cloud: ResourceNames, api: Client) -> None:
    patient = register(api)
    first = open_visit(api, patient)["id"]
    move(api, first, "CANCELLED")
    second = open_visit(api, patient)["id"]

    status, page = send(api, "GET", f"/patients/{patient}/visits", role=Role.DOCTOR)
    assert status == 200
    assert [(visit["id"], visit["status"]) for visit in page["items"]] == [(second, "REGISTERED"),
                                                                           (first, "CANCELLED")]  # fmt: skip
    status, page = send(api, "GET", f"/patients/{patient}/visits", clinic=OTHER)
    assert (status, page["code"]) == (404, "not_found")


def test_discharge_with_a_follow_up_books_the_appointment_in_the_same_transaction(
    cloud: ResourceNames, api: Client
) -> None:
    from tests.cloud.builders import make_user

    doctor = make_user(CLINIC, "co@demo.test", Role.DOCTOR)
    patient, other = register(api), register(api)
    visit_id = open_visit(api, patient)["id"]
    move(api, visit_id, "TRIAGED", "IN_CONSULTATION")
    booked = send(api, "POST", "/appointments", {"patient_id": other, "provider_id": doctor, "date": "2030-02-01",
                                                 "time": "09:00"}, role=Role.RECEPTIONIST)  # fmt: skip
    assert booked[0] == 201
    follow_up = {"date": "2030-02-01", "notes": "Review chest pain", "provider_id": doctor, "time": "09:00"}
    body = {"status": "COMPLETED", "discharge_notes": "Stable", "follow_up": follow_up}
    status, answer = send(api, "PUT", f"/visits/{visit_id}", body, role=Role.DOCTOR)
    assert (status, answer["code"], answer["field"]) == (409, "slot_taken", "follow_up.time")
    assert send(api, "GET", f"/visits/{visit_id}")[1]["status"] == "IN_CONSULTATION"  # nothing written

    status, done = send(api, "PUT", f"/visits/{visit_id}", {**body, "follow_up": {**follow_up, "time": "10:00"}},
                        role=Role.DOCTOR)  # fmt: skip
    assert (status, done["status"]) == (200, "COMPLETED"), done
    _, page = send(api, "GET", f"/appointments?date=2030-02-01&provider={doctor}", role=Role.NURSE)
    (appointment,) = [a for a in page["items"] if a["patient_id"] == patient]
    assert (appointment["id"], appointment["visit_id"], appointment["time"], appointment["reason"]) == (
        done["follow_up_appointment_id"], visit_id, "10:00", "Review chest pain")  # fmt: skip
    assert any(t == "visit.discharged" and s["visit_id"] == visit_id for t, s in _events())
