"""POST /patients and PATCH /patients/{patient_id}: registration, OP numbers, duplicates, ADT merge, audit, events."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import botocore.endpoint
import pytest
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.db import events as events_repo
from chalicelib.resources import ResourceNames
from chalicelib.services import patients
from chalicelib.services.ingest import ingest_object
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from tests.cloud.builders import bearer, make_patient_update, put_envelope

YEAR = datetime.now(UTC).year


def new_patient(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": "Wanjiru",
        "last_name": "Kamau",
        "sex": "FEMALE",
        "date_of_birth": "1984-02-29",
        "phone": "+254712345678",
        "national_id": "12345678",
        "insurance_type": "SHA",
        "registration_type": "NEW_PATIENT",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def register(api: Client, body: dict[str, Any], clinic: str = "demo", role: Role = Role.RECEPTIONIST) -> Any:
    return api.http.post("/patients", headers={**bearer(clinic, role), "Content-Type": "application/json"},
                         body=__import__("json").dumps(body))  # fmt: skip


def patch(api: Client, patient_id: str, body: dict[str, Any], clinic: str = "demo") -> Any:
    return api.http.patch(f"/patients/{patient_id}", headers={**bearer(clinic, Role.RECEPTIONIST),
                          "Content-Type": "application/json"}, body=__import__("json").dumps(body))  # fmt: skip


def test_registration_issues_the_next_op_number_and_get_returns_the_patient(cloud: ResourceNames, api: Client) -> None:
    first = register(api, new_patient())
    second = register(api, new_patient(first_name="Otieno", national_id=None, phone="+254722000111"))

    assert first.status_code == 201, first.body
    body = first.json_body
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert body["op_number"] == f"OP-{YEAR}-000001"
    assert second.json_body["op_number"] == f"OP-{YEAR}-000002"
    assert (body["first_name"], body["last_name"], body["sex"], body["date_of_birth"]) == (
        "Wanjiru", "Kamau", "FEMALE", "1984-02-29")  # fmt: skip
    assert (body["phone"], body["national_id"], body["insurance_type"]) == ("+254712345678", "12345678", "SHA")
    assert body["registered"] is True and body["adt"] is None

    read = api.http.get(f"/patients/{body['id']}", headers=bearer("demo", Role.NURSE))
    assert read.status_code == 200
    assert read.json_body == body


def test_registration_is_audited_with_an_event_and_no_phi(cloud: ResourceNames, api: Client) -> None:
    patient_id = register(api, new_patient()).json_body["id"]

    [entry] = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "patient.registered"]
    assert (entry.resource, entry.resource_id, entry.role) == ("patient", patient_id, "receptionist")
    assert "Kamau" not in entry.model_dump_json() and "254712345678" not in entry.model_dump_json()
    events = events_repo.after("demo", None, limit=50, next_token=None).items
    assert [(e.type, e.subject) for e in events] == [("patient.registered", {"patient_id": patient_id})]


def test_age_instead_of_date_of_birth_and_camel_case(cloud: ResourceNames, api: Client) -> None:
    body = {"firstName": "Baraka", "lastName": "Mwangi", "sex": "MALE", "age": 30, "phone": "+254733111222",
            "insuranceType": "CASH"}  # fmt: skip
    response = register(api, body)
    assert response.status_code == 201, response.body
    assert (response.json_body["age"], response.json_body["date_of_birth"]) == (30, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (new_patient(phone="0712345678"), "phone"),
        (new_patient(phone="+2547"), "phone"),
        (new_patient(sex="F"), "sex"),
        (new_patient(insurance_type="NHIF2"), "insurance_type"),
        (new_patient(first_name=""), "first_name"),
        (new_patient(age=30), None),  # both date_of_birth and age
        (new_patient(date_of_birth="2999-01-01"), "date_of_birth"),
        ({**new_patient(), "op_number": "OP-1"}, "op_number"),
    ],
)
def test_bad_registrations_are_422_naming_the_field(cloud: ResourceNames, api: Client, body: Any, field: Any) -> None:
    response = register(api, body)
    assert response.status_code == 422, response.body
    assert response.json_body["code"] == "invalid_request"
    if field:
        assert response.json_body["field"] == field


def test_roles_without_register_permission_get_403(cloud: ResourceNames, api: Client) -> None:
    assert register(api, new_patient(), role=Role.CASHIER).status_code == 403
    assert register(api, new_patient(), role=Role.MANAGER).status_code == 403


def test_duplicate_national_id_is_409_with_the_existing_id_unless_forced(cloud: ResourceNames, api: Client) -> None:
    existing = register(api, new_patient()).json_body["id"]

    again = register(api, new_patient(first_name="Other", phone="+254799000000"))
    assert again.status_code == 409
    assert again.json_body["code"] == "duplicate_patient"
    assert again.json_body["existing_id"] == existing

    forced = register(api, new_patient(first_name="Other", phone="+254799000000", force=True))
    assert forced.status_code == 201
    assert forced.json_body["op_number"] == f"OP-{YEAR}-000002"  # the refused attempt used no number


def test_duplicate_name_birth_date_and_phone_is_409_accent_and_case_insensitive(
    cloud: ResourceNames, api: Client
) -> None:
    existing = register(api, new_patient(national_id=None, first_name="Ñjeri")).json_body["id"]
    again = register(api, new_patient(national_id=None, first_name="njeri", last_name="KAMAU"))
    assert (again.status_code, again.json_body.get("existing_id")) == (409, existing)
    other_dob = register(api, new_patient(national_id=None, first_name="njeri", date_of_birth="1990-01-01"))
    assert other_dob.status_code == 201


def test_concurrent_duplicates_cannot_both_pass(cloud: ResourceNames) -> None:
    """Both pass the pre-check (nothing registered yet); the transaction's lookup condition stops one."""
    scope = Scope.system("demo", "user:u-test")
    fields = {**new_patient(), "date_of_birth": "1984-02-29"}
    original = patients._guards
    patients._guards = lambda clinic, f, force: original(clinic, f, force=force)  # type: ignore[assignment]
    checked = [patients._identity_keys(patients._registered_values(fields))]
    first = patients.register(scope, fields)
    # A second registration whose pre-check ran before the first committed claims the same lookups.
    patients._guards = lambda clinic, f, force: checked[0]  # type: ignore[assignment]
    try:
        with pytest.raises(patients.Duplicate) as raised:
            patients.register(scope, fields)
    finally:
        patients._guards = original  # type: ignore[assignment]
    assert raised.value.existing_id == first.id


def test_fifty_concurrent_registrations_get_fifty_consecutive_op_numbers(
    cloud_server: ResourceNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 threads register at once against the moto server: each reads the counter and races its
    transaction against the others. moto applies one TransactWriteItems non-atomically (it snapshots and
    restores whole tables, so concurrent requests corrupt each other), whereas DynamoDB executes each
    request atomically; the lock below gives each HTTP request that atomicity and nothing more — the
    threads still interleave freely between their reads and their transactions."""
    one_request_at_a_time = threading.Lock()
    send = botocore.endpoint.Endpoint._send

    def atomic_send(self: Any, request: Any) -> Any:
        with one_request_at_a_time:
            return send(self, request)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send", atomic_send)
    scope = Scope.system("conc", "user:u-test")

    def one(i: int) -> str:
        fields = new_patient(first_name=f"Patient{i}", national_id=None, phone=f"+2547120000{i:02d}")
        return patients.register(scope, fields).op_number or ""

    with ThreadPoolExecutor(max_workers=50) as pool:
        numbers = list(pool.map(one, range(50)))

    assert sorted(numbers) == [f"OP-{YEAR}-{n:06d}" for n in range(1, 51)]


def test_patch_changes_fields_replaces_search_entries_and_is_audited(cloud: ResourceNames, api: Client) -> None:
    patient_id = register(api, new_patient()).json_body["id"]

    response = patch(api, patient_id, {"lastName": "Otieno", "phone": "+254700999888", "national_id": None})
    assert response.status_code == 200, response.body
    body = response.json_body
    assert (body["last_name"], body["phone"], body["national_id"], body["first_name"]) == (
        "Otieno", "+254700999888", None, "Wanjiru")  # fmt: skip
    assert body["version"] == 2

    headers = bearer("demo", Role.RECEPTIONIST)
    assert api.http.get("/patients?q=kamau", headers=headers).json_body["items"] == []
    assert [h["id"] for h in api.http.get("/patients?q=otieno", headers=headers).json_body["items"]] == [patient_id]
    # The national id was released: another patient may now register with it.
    assert register(api, new_patient(first_name="Zawadi", phone="+254711000222")).status_code == 201
    actions = [e.action for e in audit_repo.list_day("demo", datetime.now(UTC))]
    assert actions.count("patient.updated") == 1
    types = [e.type for e in events_repo.after("demo", None, limit=50, next_token=None).items]
    assert types.count("patient.updated") == 1


def test_patch_refuses_removing_required_fields_and_unknown_patients(cloud: ResourceNames, api: Client) -> None:
    patient_id = register(api, new_patient()).json_body["id"]
    assert patch(api, patient_id, {"first_name": None}).status_code == 422
    assert patch(api, "nobody", {"first_name": "X"}).status_code == 404
    assert patch(api, patient_id, {"first_name": "X"}, clinic="clinic-b").status_code == 404


def test_adt_fills_what_staff_left_empty_and_never_overwrites_staff_values(cloud: ResourceNames, api: Client) -> None:
    registered = register(api, new_patient(national_id=None)).json_body
    update = make_patient_update(patient_id=registered["op_number"], family_name="Otieno", given_name="Wanjiru")
    assert ingest_object(put_envelope(cloud, update), update.to_json().encode()).value == "patient_updated"

    body = api.http.get(f"/patients/{registered['id']}", headers=bearer("demo", Role.NURSE)).json_body
    assert body["last_name"] == "Kamau"  # staff value wins
    assert body["adt"]["family_name"] == "Otieno"  # the ADT value is kept beside it
    assert body["op_number"] == registered["op_number"]
