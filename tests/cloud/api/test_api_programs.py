"""Immunizations (KEPI vaccine list, dose numbers, next dose due), family-planning records and MCH services:
POST and GET under /immunization, /family-planning and /mch-services, scoped to the caller's clinic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.db import audit as audit_repo
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from tests.cloud.api.clinical_helpers import CLINIC, OTHER, call, patient


@pytest.fixture(scope="module")
def api(module_cloud: ResourceNames) -> Iterator[Client]:
    with Client(app) as client:
        yield client


def dose(vaccine: str, **extra: Any) -> dict[str, Any]:
    return {"vaccine": vaccine, "batch_number": "BATCH001", "site": "Left thigh", "route": "IM", "dose": "0.5ml",
            **extra}  # fmt: skip


def immunize(api: Client, patient_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    return call(api, "POST", f"/immunization/patients/{patient_id}/immunizations", body, role=Role.NURSE)


def test_doses_follow_the_schedule_and_the_next_dose_is_due_after_its_interval(api: Client) -> None:
    patient_id = patient(api)

    first = immunize(api, patient_id, dose("Pentavalent", administered_at="2026-10-01"))
    second = immunize(api, patient_id, dose("penta", administered_at="2026-10-29"))
    third = immunize(api, patient_id, dose("PENTAVALENT", administered_at="2026-11-26"))

    assert [status for status, _ in (first, second, third)] == [201, 201, 201], first
    assert [(b["vaccine"], b["dose_number"], b["doses_in_schedule"], b["next_dose_due"]) for _, b in
            (first, second, third)] == [("PENTAVALENT", 1, 3, "2026-10-29"), ("PENTAVALENT", 2, 3, "2026-11-26"),
                                        ("PENTAVALENT", 3, 3, None)]  # fmt: skip
    status, body = immunize(api, patient_id, dose("Pentavalent"))
    assert (status, body["code"], body["field"]) == (422, "schedule_complete", "dose_number")
    status, listed = call(api, "GET", f"/immunization/patients/{patient_id}/immunizations", role=Role.DOCTOR)
    assert status == 200 and [item["dose_number"] for item in listed["items"]] == [3, 2, 1]
    assert listed["items"][0] == third[1]
    actions = [(e.action, e.resource_id) for e in audit_repo.list_day(CLINIC, datetime.now(UTC), limit=500)]
    assert ("immunization.recorded", first[1]["id"]) in actions


@pytest.mark.parametrize(("vaccine", "code", "dose_number", "given", "due"), [
    ("BCG", "BCG", 1, "2026-11-02", None),
    ("OPV", "OPV", 1, "2026-11-02", "2026-12-14"),  # birth dose, then 6 weeks
    ("Measles-Rubella", "MEASLES_RUBELLA", 1, "2026-03-01", "2026-11-26"),  # 9 then 18 months
    ("MR", "MEASLES_RUBELLA", 2, "2026-11-26", None),
    ("Yellow fever", "YELLOW_FEVER", 1, "2026-11-02", None),
    ("HPV", "HPV", 1, "2026-11-02", None),
    ("Tetanus", "TETANUS", 2, "2026-11-02", "2027-05-03"),  # TT3 six months after TT2
    ("rota", "ROTA", 1, "2026-11-02", "2026-11-30"),
])  # fmt: skip
def test_the_kepi_vaccines(api: Client, vaccine: str, code: str, dose_number: int, given: str, due: str | None) -> None:
    status, body = immunize(api, patient(api), dose(vaccine, dose_number=dose_number, administered_at=given))

    assert status == 201, body
    assert (body["vaccine"], body["dose_number"], body["administered_at"], body["next_dose_due"]) == (
        code, dose_number, given, due)  # fmt: skip


def test_unknown_vaccines_impossible_doses_and_duplicates_are_refused(api: Client) -> None:
    patient_id = patient(api)

    status, body = immunize(api, patient_id, dose("Covax-Z"))
    assert (status, body["code"], body["field"]) == (422, "unknown_vaccine", "vaccine")
    status, body = immunize(api, patient_id, dose("BCG", dose_number=2))
    assert (status, body["code"]) == (422, "invalid_dose_number")
    status, body = immunize(api, patient_id, dose("BCG", administered_at="2999-01-01"))
    assert (status, body["field"]) == (422, "administered_at")
    assert immunize(api, patient_id, dose("BCG"))[0] == 201
    status, body = immunize(api, patient_id, dose("BCG", dose_number=1))
    assert (status, body["code"]) == (409, "dose_already_recorded")
    status, body = immunize(api, patient_id, {**dose("OPV"), "batch_number": ""})
    assert (status, body["field"]) == (422, "batch_number")
    listed = call(api, "GET", f"/immunization/patients/{patient_id}/immunizations")[1]["items"]
    assert [item["vaccine"] for item in listed] == ["BCG"]


def test_the_vaccine_list_says_what_vaccine_accepts(api: Client) -> None:
    status, body = call(api, "GET", "/immunization/vaccines", role=Role.NURSE)
    assert status == 200
    codes = {item["code"]: item for item in body["items"]}
    assert {"BCG", "OPV", "PENTAVALENT", "PCV", "ROTA", "MEASLES_RUBELLA", "YELLOW_FEVER", "HPV", "TETANUS"} <= set(
        codes
    )
    assert codes["PCV"]["doses"] == 3 and codes["PCV"]["intervals_days"] == [28, 28]


def test_family_planning_records(api: Client) -> None:
    patient_id = patient(api)
    body = {"method": "COMBINED_ORAL_CONTRACEPTIVE", "start_date": "2026-12-01", "status": "ACTIVE",
            "counselling_notes": "Counselled on all methods", "notes": "Chose oral contraceptives"}  # fmt: skip

    status, record = call(api, "POST", f"/family-planning/patients/{patient_id}/records", body, role=Role.NURSE)

    assert status == 201, record
    assert (record["method"], record["start_date"], record["counselling_provided"], record["status"]) == (
        "COMBINED_ORAL_CONTRACEPTIVE", "2026-12-01", True, "ACTIVE")  # fmt: skip
    assert call(api, "GET", f"/family-planning/patients/{patient_id}/records")[1]["items"] == [record]
    status, answer = call(api, "POST", f"/family-planning/patients/{patient_id}/records", {**body, "method": "PILL"})
    assert (status, answer["field"]) == (422, "method")
    assert call(api, "POST", f"/family-planning/patients/{patient_id}/records", body, role=Role.PHARMACIST)[0] == 403


def test_mch_services(api: Client) -> None:
    patient_id = patient(api)
    details = {"duration_minutes": 30, "weight": 65.5, "blood_pressure": "120/80"}
    body = {"service_type": "ANTENATAL", "details": details,
            "findings": "Normal weight gain", "recommendations": "Continue regular checkups"}  # fmt: skip

    status, record = call(api, "POST", f"/mch-services/patients/{patient_id}/services", body, role=Role.NURSE)

    assert status == 201, record
    assert (record["service_type"], record["details"], record["status"]) == ("ANTENATAL", body["details"], "COMPLETED")
    assert record["service_date"] == datetime.now(UTC).date().isoformat()
    assert call(api, "GET", f"/mch-services/patients/{patient_id}/services")[1]["items"] == [record]
    for bad, field in (({**body, "service_type": "DENTAL"}, "service_type"),
                       ({**body, "details": {"weight": {"kg": 65}}}, "details.weight")):  # fmt: skip
        status, answer = call(api, "POST", f"/mch-services/patients/{patient_id}/services", bad, role=Role.NURSE)
        assert status == 422 and answer["field"].startswith(field), answer
    assert len(call(api, "GET", f"/mch-services/patients/{patient_id}/services")[1]["items"]) == 1


@pytest.mark.parametrize(("path", "body"), [
    ("/immunization/patients/{p}/immunizations", dose("BCG")),
    ("/family-planning/patients/{p}/records", {"method": "IMPLANT", "start_date": "2026-12-01", "status": "ACTIVE"}),
    ("/mch-services/patients/{p}/services", {"service_type": "POSTNATAL", "details": {}}),
])  # fmt: skip
def test_another_clinics_patient_is_not_found(api: Client, path: str, body: dict[str, Any]) -> None:
    patient_id = patient(api)
    url = path.replace("{p}", patient_id)

    assert call(api, "POST", url, body, role=Role.NURSE, clinic=OTHER)[0] == 404
    assert call(api, "GET", url, clinic=OTHER)[0] == 404
    assert call(api, "GET", url)[1]["items"] == []
    assert call(api, "POST", url, body, role=Role.NURSE)[0] == 201
