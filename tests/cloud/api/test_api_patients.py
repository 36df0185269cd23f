"""GET /patients/{patient_id}: demographics from ingested ADT updates, clinic scoping, roles, 401/403/404."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.test import Client

from chalicelib.events.ingest import lambda_handler
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from localdev.router import FakeLambdaContext
from tests.cloud.builders import bearer, make_patient_update, put_envelope, s3_notification, sqs_event

CLINICAL = [
    Role.ADMIN,
    Role.OPHTHALMOLOGIST,
    Role.DOCTOR,
    Role.NURSE,
    Role.RECEPTIONIST,
    Role.OPTICIAN,
    Role.LAB_TECHNICIAN,
]


@pytest.fixture(scope="module")
def clinic_a(module_cloud: ResourceNames) -> ResourceNames:
    """Clinic `demo`: P-1001 registered (A04), then updated (A08); P-7#1 with separator characters in its id."""
    cloud = module_cloud
    registered = make_patient_update(seed="a04", event="A04", captured_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    updated = make_patient_update(
        seed="a08", event="A08", family_name="Otieno", captured_at=datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    )
    odd = make_patient_update(seed="odd", patient_id="P-7#1", family_name="Achieng")
    keys = [put_envelope(cloud, envelope) for envelope in (updated, registered, odd)]  # the older one arrives last
    response = lambda_handler(sqs_event(*(s3_notification(cloud.bucket, key) for key in keys)), FakeLambdaContext())
    assert response["batchItemFailures"] == []
    return cloud


@pytest.mark.parametrize("role", CLINICAL)
def test_clinical_roles_read_the_latest_demographics(clinic_a: ResourceNames, api: Client, role: Role) -> None:
    response = api.http.get("/patients/P-1001", headers=bearer("demo", role))

    assert response.status_code == 200, response.body
    body = response.json_body
    assert (body["id"], body["patient_id"], body["clinic_id"]) == ("P-1001", "P-1001", "demo")
    assert (body["registered"], body["op_number"]) == (False, None)
    # Not registered: the merged fields come from the last ADT update.
    assert (body["last_name"], body["first_name"], body["date_of_birth"], body["sex"]) == (
        "Otieno",
        "Wanjiru",
        "1984-02-29",
        "FEMALE",
    )
    adt = body["adt"]
    assert (adt["family_name"], adt["given_name"], adt["birth_date"], adt["sex"], adt["event"]) == (
        "Otieno",
        "Wanjiru",
        "1984-02-29",
        "F",
        "A08",
    )
    assert adt["other_ids"] == ["NHIF-778812"]
    assert adt["updated_at"] == "2026-11-03T09:00:00Z"
    assert adt["envelope_id"] and body["id_source"] == "hl7_pid"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_id_with_separator_characters_is_found_url_encoded(clinic_a: ResourceNames, api: Client) -> None:
    response = api.http.get("/patients/P-7%231", headers=bearer("demo", Role.NURSE))
    assert response.status_code == 200
    assert (response.json_body["patient_id"], response.json_body["last_name"]) == ("P-7#1", "Achieng")
    assert api.http.get("/patients/P-7", headers=bearer("demo", Role.NURSE)).status_code == 404


def test_unknown_patient_is_404(clinic_a: ResourceNames, api: Client) -> None:
    response = api.http.get("/patients/P-9999", headers=bearer("demo", Role.DOCTOR))
    assert response.status_code == 404
    assert response.json_body["code"] == "not_found"
    assert set(response.json_body) == {"code", "message"}


def test_another_clinic_cannot_see_clinic_a_patients(clinic_a: ResourceNames, api: Client) -> None:
    response = api.http.get("/patients/P-1001", headers=bearer("clinic-b", Role.ADMIN))
    assert response.status_code == 404
    assert response.json_body["code"] == "not_found"


@pytest.mark.parametrize("role", [Role.ACCOUNTANT, Role.MANAGER, Role.PATIENT])
def test_roles_without_patient_access_get_403(clinic_a: ResourceNames, api: Client, role: Role) -> None:
    response = api.http.get("/patients/P-1001", headers=bearer("demo", role))
    assert response.status_code == 403
    assert response.json_body["code"] == "forbidden"


def test_no_token_is_401(clinic_a: ResourceNames, api: Client) -> None:
    response = api.http.get("/patients/P-1001")
    assert response.status_code == 401
    assert response.json_body["code"] == "missing_token"
    bad = api.http.get("/patients/P-1001", headers={"Authorization": "Bearer a.b.c"})
    assert bad.status_code == 401


def test_receptionist_reads_demographics_but_not_readings(clinic_a: ResourceNames, api: Client) -> None:
    headers = bearer("demo", Role.RECEPTIONIST)
    assert api.http.get("/patients/P-1001", headers=headers).status_code == 200
    assert api.http.get("/patients/P-1001/readings", headers=headers).status_code == 403


def test_a_too_long_patient_id_is_422(clinic_a: ResourceNames, api: Client) -> None:
    response = api.http.get("/patients/" + "P" * 129, headers=bearer("demo"))
    assert response.status_code == 422
    assert response.json_body["code"] == "invalid_patient_id"
