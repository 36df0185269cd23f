"""POST /patient-encounters (vital signs checked for type and range, BMI; under a visit of the patient),
GET /patient-encounters/{encounter_id}, GET /patients/{patient_id}/encounters, POST /diagnoses (ICD-10 code list),
GET /patients/{patient_id}/diagnoses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.db import audit as audit_repo
from chalicelib.db import events as events_repo
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from tests.cloud.api.clinical_helpers import CLINIC, OTHER, call, encounter, patient, visit
from tests.cloud.dynamo_calls import recorded, tables_written


@pytest.fixture(scope="module")
def api(module_cloud: ResourceNames) -> Iterator[Client]:
    with Client(app) as client:
        yield client


def triage(patient_id: str, visit_id: str, vitals: dict[str, Any]) -> dict[str, Any]:
    return {"patient_id": patient_id, "visit_id": visit_id, "encounter_type": "TRIAGE", "vital_signs": vitals}


def stored(api: Client, patient_id: str) -> list[dict[str, Any]]:
    status, body = call(api, "GET", f"/patients/{patient_id}/encounters", role=Role.NURSE)
    assert status == 200, body
    return list(body["items"])


def test_triage_takes_numbers_and_numeric_strings_stores_numbers_and_computes_bmi(api: Client) -> None:
    patient_id = patient(api)
    visit_id = visit(api, patient_id)
    vitals = {"blood_pressure": "140/90", "temperature": "38.5", "pulse": 95, "respiratory_rate": "22",
              "spo2": 97, "weight_kg": "70", "height_cm": 175}  # fmt: skip

    status, body = call(api, "POST", "/patient-encounters",
                        {**triage(patient_id, visit_id, vitals), "notes": "Distressed"}, role=Role.NURSE)  # fmt: skip

    assert status == 201, body
    assert body["vital_signs"] == {"blood_pressure": "140/90", "systolic": 140, "diastolic": 90, "temperature": 38.5,
                                   "pulse": 95, "respiratory_rate": 22, "spo2": 97.0, "weight_kg": 70.0,
                                   "height_cm": 175.0, "bmi": 22.9}  # fmt: skip
    assert (body["encounter_type"], body["visit_id"], body["provider"]) == ("TRIAGE", visit_id, "user:u-nurse")
    status, read = call(api, "GET", f"/patient-encounters/{body['id']}", role=Role.OPTICIAN)
    assert (status, read) == (200, body)
    assert [item["id"] for item in stored(api, patient_id)] == [body["id"]]
    events = events_repo.after(CLINIC, None, limit=200, next_token=None).items
    assert ("encounter.recorded", body["id"]) in [(e.type, e.subject.get("encounter_id")) for e in events]
    actions = [(e.action, e.resource_id) for e in audit_repo.list_day(CLINIC, datetime.now(UTC), limit=500)]
    assert ("encounter.recorded", body["id"]) in actions and ("encounter.read", body["id"]) in actions


OUT_OF_RANGE = [
    ("temperature", 45.1), ("temperature", "29.9"), ("temperature", 100.4),  # Fahrenheit typed in °C
    ("pulse", 19), ("pulse", "251"), ("respiratory_rate", 3), ("respiratory_rate", 81),
    ("spo2", 49), ("spo2", "100.5"), ("weight_kg", 0.2), ("weight_kg", 401), ("height_cm", 19), ("height_cm", "261"),
    ("blood_pressure", "301/90"), ("blood_pressure", "49/30"), ("blood_pressure", "120/19"),
    ("blood_pressure", "140/201"), ("blood_pressure", "90/120"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), OUT_OF_RANGE)
def test_an_out_of_range_vital_sign_is_a_422_naming_the_field_and_stores_nothing(
    api: Client, name: str, value: Any
) -> None:
    patient_id = patient(api)
    body = triage(patient_id, visit(api, patient_id), {"pulse": 80, name: value})
    status, body = call(api, "POST", "/patient-encounters", body, role=Role.NURSE)

    assert status == 422, body
    assert (body["code"], body["field"]) == ("vital_sign_out_of_range", f"vital_signs.{name}")
    assert stored(api, patient_id) == []


@pytest.mark.parametrize(("name", "value", "code"), [
    ("temperature", "38,5", "invalid_vital_sign"), ("pulse", "ninety", "invalid_vital_sign"),
    ("pulse", "95.5", "invalid_vital_sign"), ("blood_pressure", "140-90", "invalid_vital_sign"),
    ("spo2", "", "invalid_vital_sign"), ("temperature", True, "invalid_request"), ("pulse", [95], "invalid_request"),
])  # fmt: skip
def test_a_vital_sign_that_is_not_a_number_is_a_422_naming_the_field(
    api: Client, name: str, value: Any, code: str
) -> None:
    patient_id = patient(api)
    body = triage(patient_id, visit(api, patient_id), {name: value})
    status, body = call(api, "POST", "/patient-encounters", body, role=Role.NURSE)

    assert status == 422, body
    assert body["code"] == code and body["field"].startswith(f"vital_signs.{name}"), body
    assert stored(api, patient_id) == []


def test_limits_are_inclusive_and_unknown_vital_signs_are_refused(api: Client) -> None:
    patient_id = patient(api)
    visit_id = visit(api, patient_id)
    edges = {"temperature": 30, "pulse": 250, "respiratory_rate": 4, "spo2": 100, "weight_kg": 0.3, "height_cm": 260,
             "blood_pressure": "300/200"}  # fmt: skip
    status, body = call(api, "POST", "/patient-encounters", triage(patient_id, visit_id, edges), role=Role.NURSE)
    assert status == 201, body
    assert body["vital_signs"]["bmi"] == 0.0

    status, body = call(
        api, "POST", "/patient-encounters", triage(patient_id, visit_id, {"glucose": 5.5}), role=Role.NURSE
    )
    assert (status, body["field"]) == (422, "vital_signs.glucose")
    status, body = call(api, "POST", "/patient-encounters", triage(patient_id, visit_id, {}), role=Role.NURSE)
    assert (status, body["code"], body["field"]) == (422, "invalid_vital_sign", "vital_signs")
    without = {"patient_id": patient_id, "visit_id": visit_id, "encounter_type": "TRIAGE"}
    status, body = call(api, "POST", "/patient-encounters", without, role=Role.NURSE)
    assert (status, body["field"]) == (422, "vital_signs")


def test_a_consultation_needs_a_clinician(api: Client) -> None:
    patient_id = patient(api)
    body = {"patient_id": patient_id, "visit_id": visit(api, patient_id), "encounter_type": "CONSULTATION",
            "notes": "Chest pain", "findings": "Elevated blood pressure",
            "recommendations": "Follow-up in 3 days"}  # fmt: skip

    status, answer = call(api, "POST", "/patient-encounters", body, role=Role.NURSE)
    assert (status, answer["code"]) == (403, "forbidden")
    assert stored(api, patient_id) == []

    status, answer = call(api, "POST", "/patient-encounters", body, role=Role.DOCTOR)
    assert status == 201, answer
    assert (answer["findings"], answer["vital_signs"]) == ("Elevated blood pressure", None)


def test_another_clinics_patient_and_encounter_are_not_found(api: Client) -> None:
    patient_id = patient(api)
    encounter_id = encounter(api, patient_id)

    assert call(api, "GET", f"/patient-encounters/{encounter_id}", clinic=OTHER)[0] == 404
    assert call(api, "GET", f"/patients/{patient_id}/encounters", clinic=OTHER)[0] == 404
    status, body = call(api, "POST", "/patient-encounters", triage(patient_id, visit(api, patient_id), {"pulse": 80}),
                        role=Role.NURSE, clinic=OTHER)  # fmt: skip
    assert (status, body["code"], body["field"]) == (404, "not_found", "patient_id")
    assert call(api, "GET", "/patient-encounters/no-such-encounter")[0] == 404


def test_an_unknown_visit_or_another_clinics_is_a_404_naming_visit_id_and_writes_nothing(api: Client) -> None:
    patient_id = patient(api)
    theirs = visit(api, patient(api, clinic=OTHER), clinic=OTHER)

    for visit_id in ("no-such-visit", theirs):
        for role, body in ((Role.NURSE, triage(patient_id, visit_id, {"pulse": 80})),
                           (Role.DOCTOR, {"patient_id": patient_id, "visit_id": visit_id,
                                          "encounter_type": "CONSULTATION", "notes": "Chest pain"})):  # fmt: skip
            with recorded() as calls:
                status, answer = call(api, "POST", "/patient-encounters", body, role=role)
            assert (status, answer["code"], answer["field"]) == (404, "not_found", "visit_id"), answer
            assert tables_written(calls) == set()
    assert stored(api, patient_id) == []


def test_another_patients_visit_is_a_422_visit_patient_mismatch_and_writes_nothing(api: Client) -> None:
    patient_id, someone_else = patient(api), patient(api, phone="+254712000004")
    theirs = visit(api, someone_else)

    with recorded() as calls:
        status, body = call(api, "POST", "/patient-encounters", triage(patient_id, theirs, {"pulse": 80}),
                            role=Role.NURSE)  # fmt: skip
    assert (status, body["code"], body["field"]) == (422, "visit_patient_mismatch", "visit_id"), body
    assert tables_written(calls) == set()
    assert stored(api, patient_id) == [] and stored(api, someone_else) == []
    # The patient's own visit is accepted.
    status, body = call(api, "POST", "/patient-encounters", triage(patient_id, visit(api, patient_id), {"pulse": 80}),
                        role=Role.NURSE)  # fmt: skip
    assert status == 201, body


def test_encounters_list_newest_first_in_pages(api: Client) -> None:
    patient_id = patient(api)
    ids = [encounter(api, patient_id) for _ in range(3)]

    status, first = call(api, "GET", f"/patients/{patient_id}/encounters?limit=2")
    assert status == 200 and len(first["items"]) == 2 and first["next"]
    status, second = call(api, "GET", f"/patients/{patient_id}/encounters?limit=2&next={first['next']}")
    assert [item["id"] for item in first["items"] + second["items"]] == ids[::-1]


# --- diagnoses -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "code", "name", "billable"), [
    ("R06.02", "R06.02", "Shortness of breath", True),
    ("j45909", "J45.909", "Unspecified asthma, uncomplicated", True),
    (" J45.909 ", "J45.909", "Unspecified asthma, uncomplicated", True),
    ("J45", "J45", "Asthma", False),
])  # fmt: skip
def test_a_diagnosis_gets_its_name_from_the_icd10_code_list(
    api: Client, given: str, code: str, name: str, billable: bool
) -> None:
    patient_id = patient(api)
    visit_id = visit(api, patient_id)
    encounter_id = encounter(api, patient_id, visit_id=visit_id)

    status, body = call(api, "POST", "/diagnoses", {"patient_id": patient_id, "encounter_id": encounter_id,
                                                    "diagnosis_code": given, "notes": "Primary diagnosis"})  # fmt: skip

    assert status == 201, body
    assert (body["diagnosis_code"], body["diagnosis_name"], body["billable"], body["status"]) == (
        code, name, billable, "ACTIVE")  # fmt: skip
    assert (body["encounter_id"], body["visit_id"]) == (encounter_id, visit_id)
    status, listed = call(api, "GET", f"/patients/{patient_id}/diagnoses", role=Role.NURSE)
    assert (status, listed["items"]) == (200, [body])


@pytest.mark.parametrize("given", ["ZZZ99", "A00-A09", "J45.99999", "R06.0Z", "asthma", "1"])
def test_an_unknown_icd10_code_is_a_422_and_stores_nothing(api: Client, given: str) -> None:
    patient_id = patient(api)
    encounter_id = encounter(api, patient_id)

    status, body = call(api, "POST", "/diagnoses", {"patient_id": patient_id, "encounter_id": encounter_id,
                                                    "diagnosis_code": given})  # fmt: skip

    assert (status, body["code"], body["field"]) == (422, "unknown_icd10_code", "diagnosis_code")
    assert call(api, "GET", f"/patients/{patient_id}/diagnoses")[1]["items"] == []


def test_a_diagnosis_names_an_encounter_of_that_patient_in_the_callers_clinic(api: Client) -> None:
    patient_id, other_patient = patient(api), patient(api, phone="+254712000002")
    encounter_id = encounter(api, patient_id)
    theirs = encounter(api, patient(api, clinic=OTHER), clinic=OTHER)

    status, body = call(api, "POST", "/diagnoses", {"patient_id": other_patient, "encounter_id": encounter_id,
                                                    "diagnosis_code": "R06.02"})  # fmt: skip
    assert (status, body["code"], body["field"]) == (422, "encounter_patient_mismatch", "encounter_id")
    status, body = call(api, "POST", "/diagnoses", {"patient_id": patient_id, "encounter_id": theirs,
                                                    "diagnosis_code": "R06.02"})  # fmt: skip
    assert (status, body["field"]) == (404, "encounter_id")
    status, body = call(api, "POST", "/diagnoses", {"patient_id": patient_id, "encounter_id": encounter_id,
                                                    "diagnosis_code": "R06.02"}, role=Role.NURSE)  # fmt: skip
    assert status == 403
    assert call(api, "GET", f"/patients/{patient_id}/diagnoses")[1]["items"] == []
    assert call(api, "GET", f"/patients/{patient_id}/diagnoses", clinic=OTHER)[0] == 404


def test_a_closed_visit_takes_no_new_encounter(api: Client) -> None:
    patient_id = patient(api, phone="+254712000005")
    cancelled = visit(api, patient_id)
    status, body = call(api, "PUT", f"/visits/{cancelled}", {"status": "CANCELLED"}, role=Role.RECEPTIONIST)
    assert (status, body["status"]) == (200, "CANCELLED"), body

    with recorded() as calls:
        status, body = call(api, "POST", "/patient-encounters", triage(patient_id, cancelled, {"pulse": 80}),
                            role=Role.NURSE)  # fmt: skip
    assert (status, body["code"], body["field"]) == (409, "visit_closed", "visit_id"), body
    assert "CANCELLED" in body["message"] and tables_written(calls) == set()
    assert stored(api, patient_id) == []
