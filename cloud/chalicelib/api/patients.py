"""Patients: GET /patients/{patient_id} → the latest demographics (caller's clinic only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.services import views
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


@endpoint(bp, "/patients/{patient_id}", permission=Permission.PATIENTS_READ)
def patient(call: Call, patient_id: str) -> dict[str, Any]:
    return views.patient(call.caller, params.patient_id(patient_id)).model_dump(mode="json")
