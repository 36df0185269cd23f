"""Ingest and registered patients: readings sent under a patient's id or OP number attach to that patient;
readings under an unregistered id create a minimal patient record (GET /patients/{id} is not a 404)."""

from __future__ import annotations

from datetime import UTC, datetime

from chalice.test import Client

from chalicelib.db import patients as patients_repo
from chalicelib.resources import ResourceNames
from chalicelib.services import patients
from chalicelib.services.ingest import Outcome, ingest_object
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from tests.cloud.builders import bearer, make_envelope, make_patient_update, put_envelope

FIELDS = {"first_name": "Wanjiru", "last_name": "Kamau", "sex": "FEMALE", "age": 40, "phone": "+254712345678",
          "insurance_type": "CASH"}  # fmt: skip


def ingest(cloud: ResourceNames, envelope: object) -> Outcome:
    return ingest_object(put_envelope(cloud, envelope), envelope.to_json().encode())  # type: ignore[attr-defined]


def readings(api: Client, patient_id: str) -> list[str]:
    page = api.http.get(f"/patients/{patient_id}/readings", headers=bearer("demo", Role.NURSE)).json_body
    return [item["envelope_id"] for item in page["items"]]


def test_readings_sent_with_the_op_number_land_under_the_patient_id(cloud: ResourceNames, api: Client) -> None:
    registered = patients.register(Scope.system("demo", "user:u-test"), FIELDS)
    assert registered.op_number
    by_op = make_envelope(patient_id=registered.op_number.lower(), seed="by-op")
    by_id = make_envelope(patient_id=registered.id, seed="by-id")

    assert ingest(cloud, by_op) is Outcome.MATCHED
    assert ingest(cloud, by_id) is Outcome.MATCHED

    assert set(readings(api, registered.id)) == {by_op.envelope_id, by_id.envelope_id}
    assert patients_repo.load("demo", registered.op_number.lower()) is None  # no second record


def test_readings_under_an_unregistered_id_create_one_minimal_record(cloud: ResourceNames, api: Client) -> None:
    envelope = make_envelope(patient_id="P-5555", seed="r1")
    assert ingest(cloud, envelope) is Outcome.MATCHED

    response = api.http.get("/patients/P-5555", headers=bearer("demo", Role.NURSE))
    assert response.status_code == 200, response.body
    body = response.json_body
    assert (body["id"], body["registered"], body["id_source"], body["adt"]) == ("P-5555", False, "vendor_xml", None)
    assert body["first_seen_at"].startswith("2026-11-03T09:14:02")

    # A later ADT update attaches to the same record; the first-seen time and id source stay.
    update = make_patient_update(patient_id="P-5555", captured_at=datetime(2026, 11, 4, 8, 0, tzinfo=UTC))
    assert ingest(cloud, update) is Outcome.PATIENT_UPDATED
    after = api.http.get("/patients/P-5555", headers=bearer("demo", Role.NURSE)).json_body
    assert (after["last_name"], after["adt"]["event"], after["id_source"]) == ("Kamau", "A08", "vendor_xml")
    assert after["first_seen_at"] == body["first_seen_at"]
