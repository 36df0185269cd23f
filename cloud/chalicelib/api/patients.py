"""Patients: GET /patients/{patient_id} → the patient's record (caller's clinic only)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.models import PatientRecord
from chalicelib.services import views
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


@endpoint(bp, "GET", "/patients/{patient_id}", permission=Permission.PATIENTS_READ, response=PatientRecord)
def patient(call: Call, patient_id: str) -> PatientRecord:
    """A patient's record."""
    return views.patient(call.scope, params.patient_id(patient_id))
