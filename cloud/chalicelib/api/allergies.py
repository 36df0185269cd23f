"""Allergies: GET, POST /patients/{patient_id}/allergies, DELETE /patients/{patient_id}/allergies/{allergy_id}
(caller's clinic only). See docs/journey.md."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import ConfigDict, Field

from chalicelib.api import params, record_ids
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import Answer, RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import allergies
from chalicelib.services.allergies import Allergy, Severity
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class NewAllergy(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"substance": "Penicillin", "reaction": "Urticaria", "severity": "SEVERE"}]}
    )
    substance: str = Field(min_length=1, max_length=200)
    reaction: str | None = Field(default=None, min_length=1, max_length=500)
    severity: Severity
    notes: str | None = Field(default=None, min_length=1, max_length=4000)


@endpoint(bp, "GET", "/patients/{patient_id}/allergies", permission=Permission.ALLERGIES_READ, query=PageQuery,
          response=Page[Allergy])  # fmt: skip
def patient_allergies(call: Call, patient_id: str) -> Page[Allergy]:
    """A patient's recorded (not removed) allergies."""
    query: PageQuery = call.query
    return allergies.for_patient(call.scope, params.patient_id(patient_id), limit=query.limit, next_token=query.next)


@endpoint(bp, "POST", "/patients/{patient_id}/allergies", permission=Permission.ALLERGIES_WRITE, body=NewAllergy,
          response=Allergy, status=201)  # fmt: skip
def add_allergy(call: Call, patient_id: str) -> Allergy:
    """Record an allergy: prescriptions of a matching medication are then refused unless overridden."""
    body: NewAllergy = call.body
    return allergies.add(call.scope, params.patient_id(patient_id), body.model_dump())


@endpoint(bp, "DELETE", "/patients/{patient_id}/allergies/{allergy_id}", permission=Permission.ALLERGIES_WRITE,
          response=Answer)  # fmt: skip
def remove_allergy(call: Call, patient_id: str, allergy_id: str) -> Answer:
    """Remove a recorded allergy (kept as REMOVED in the record and audited)."""
    allergies.remove(call.scope, params.patient_id(patient_id), record_ids.record_id(allergy_id, "allergy_id"))
    return Answer(status="removed")
