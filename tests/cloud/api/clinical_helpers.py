"""Helpers of the clinical API tests: JSON calls as a role of a clinic, a registered patient, an encounter."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.services.roles import Role
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


def encounter(api: Client, patient_id: str, clinic: str = CLINIC, visit_id: str = "V-1", **extra: Any) -> str:
    body = {"patient_id": patient_id, "visit_id": visit_id, "encounter_type": "CONSULTATION", "notes": "Chest pain",
            **extra}  # fmt: skip
    status, answer = call(api, "POST", "/patient-encounters", body, role=Role.DOCTOR, clinic=clinic)
    assert status == 201, answer
    return str(answer["id"])
