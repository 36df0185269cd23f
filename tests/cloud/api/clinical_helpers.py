"""Helpers of the clinical API tests: JSON calls as a role of a clinic, a registered patient, its open visit, an
encounter."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.services.roles import Role
from tests.cloud.api.journey_helpers import new_visit
from tests.cloud.builders import bearer

CLINIC, OTHER = "clinic-east", "clinic-west"


def call(api: Client, method: str, path: str, body: Any = None, *, role: Role = Role.DOCTOR,
         clinic: str = CLINIC) -> tuple[int, Any]:  # fmt: skip
    headers = {**bearer(clinic, role, user_id=f"u-{role.value}"), "Content-Type": "application/json"}
    response = api.http.request(
        method, path, headers=headers, body=json.dumps(body).encode() if body is not None else b""
    )
    return response.status_code, response.json_body


def patient(api: Client, clinic: str = CLINIC, phone: str = "+254712000001") -> str:
    body = {"first_name": "Achieng", "last_name": "Odhiambo", "sex": "FEMALE", "age": 30, "phone": phone,
            "insurance_type": "CASH", "force": True}  # fmt: skip
    status, answer = call(api, "POST", "/patients", body, role=Role.RECEPTIONIST, clinic=clinic)
    assert status == 201, answer
    return str(answer["id"])


def visit(api: Client, patient_id: str, clinic: str = CLINIC) -> str:
    """The patient's open visit (its id): opened with POST /visits, or the one already open (one open visit per
    patient: the 409 `visit_already_open` names it)."""
    status, answer = call(api, "POST", "/visits", new_visit(patient_id), role=Role.RECEPTIONIST, clinic=clinic)
    if status == 409 and answer["code"] == "visit_already_open":
        return str(answer["existing_id"])
    assert status == 201, answer
    return str(answer["id"])


def encounter(api: Client, patient_id: str, clinic: str = CLINIC, visit_id: str | None = None, **extra: Any) -> str:
    """A CONSULTATION encounter of the patient under `visit_id` (default: the patient's open visit)."""
    body = {"patient_id": patient_id, "visit_id": visit_id or visit(api, patient_id, clinic), "notes": "Chest pain",
            "encounter_type": "CONSULTATION", **extra}  # fmt: skip
    status, answer = call(api, "POST", "/patient-encounters", body, role=Role.DOCTOR, clinic=clinic)
    assert status == 201, answer
    return str(answer["id"])
