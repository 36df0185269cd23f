"""Helpers of the patient portal tests: a registered patient, an invite, a patient account with a live session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from chalice.test import Client

from chalicelib.services.roles import Role
from tests.cloud.builders import PASSWORD, bearer

JSON = {"Content-Type": "application/json"}


def send(api: Client, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    return api.http.request(
        method, path, headers={**JSON, **(headers or {})}, body=json.dumps(body).encode() if body is not None else b""
    )


def new_patient(api: Client, clinic: str, first_name: str = "Amani", phone: str = "+254712000001") -> str:
    body = {"first_name": first_name, "last_name": "Okello", "sex": "FEMALE", "age": 34, "phone": phone,
            "insurance_type": "CASH"}  # fmt: skip
    response = send(api, "POST", "/patients", body, bearer(clinic, Role.RECEPTIONIST))
    assert response.status_code == 201, response.body
    return str(response.json_body["id"])


def invite(api: Client, clinic: str, patient_id: str, email: str, role: Role = Role.DOCTOR) -> Any:
    return send(api, "POST", f"/patients/{patient_id}/invite", {"email": email}, bearer(clinic, role))


def refresh_cookie(response: Any) -> str:
    """The `patient_refresh` value a response sets (asserting the cookie's attributes)."""
    raw = response.headers["Set-Cookie"]
    jar: SimpleCookie = SimpleCookie()
    jar.load(raw)
    return jar["patient_refresh"].value


@dataclass(frozen=True)
class PatientLogin:
    patient_id: str
    email: str
    access_token: str
    cookie: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def enrol(api: Client, clinic: str, patient_id: str, email: str, password: str = PASSWORD) -> PatientLogin:
    """Invites the patient and registers its account through the API."""
    invited = invite(api, clinic, patient_id, email)
    assert invited.status_code == 201, invited.body
    registered = send(api, "POST", "/patient-auth/register",
                      {"token": invited.json_body["token"], "email": email, "password": password})  # fmt: skip
    assert registered.status_code == 201, registered.body
    return PatientLogin(patient_id, email, registered.json_body["access_token"], refresh_cookie(registered))
