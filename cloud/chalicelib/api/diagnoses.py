"""Diagnoses: POST /diagnoses (an ICD-10 code against an encounter, its name filled in),
GET /patients/{patient_id}/diagnoses (caller's clinic only). See docs/journey.md."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import ConfigDict, Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import diagnoses
from chalicelib.services.diagnoses import Diagnosis
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class NewDiagnosis(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"patient_id": "3f2a…", "encounter_id": "77b0…", "diagnosis_code": "R06.02",
                                         "notes": "Primary diagnosis"}]}
    )  # fmt: skip
    patient_id: str = Field(min_length=1, max_length=params.MAX_PATIENT_ID)
    encounter_id: str = Field(min_length=1, max_length=params.MAX_PATIENT_ID)
    diagnosis_code: str = Field(min_length=1, max_length=16, examples=["R06.02"])
    notes: str | None = Field(default=None, min_length=1, max_length=4000)


@endpoint(bp, "POST", "/diagnoses", permission=Permission.ENCOUNTERS_CONSULT, body=NewDiagnosis, response=Diagnosis,
          status=201)  # fmt: skip
def add(call: Call) -> Diagnosis:
    """Record an ICD-10 diagnosis against an encounter (422 unknown_icd10_code for a code not in ICD-10-CM)."""
    body: NewDiagnosis = call.body
    return diagnoses.add(call.scope, body.patient_id, body.encounter_id, body.diagnosis_code, body.notes)


@endpoint(bp, "GET", "/patients/{patient_id}/diagnoses", permission=Permission.ENCOUNTERS_READ, query=PageQuery,
          response=Page[Diagnosis])  # fmt: skip
def patient_diagnoses(call: Call, patient_id: str) -> Page[Diagnosis]:
    """A patient's diagnoses, newest first."""
    query: PageQuery = call.query
    return diagnoses.for_patient(call.scope, params.patient_id(patient_id), limit=query.limit, next_token=query.next)
