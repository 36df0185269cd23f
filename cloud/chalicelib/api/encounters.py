"""Encounters: POST /patient-encounters (triage vital signs, consultation notes),
GET /patient-encounters/{encounter_id}, GET /patients/{patient_id}/encounters
(caller's clinic only). See docs/journey.md."""

from __future__ import annotations

from typing import Annotated

from chalice import Blueprint
from pydantic import ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from chalicelib.api import params, record_ids
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import encounters
from chalicelib.services.encounters import Encounter, EncounterType
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

Id = Field(min_length=1, max_length=params.MAX_PATIENT_ID)
Text = Field(default=None, min_length=1, max_length=4000)
# A number or a numeric string, as seed 001 writes them ("38.5"); services/vitals.py checks type and range.
Measure = Annotated[StrictInt | StrictFloat | StrictStr | None, Field(default=None)]


class VitalSignsIn(RequestModel):
    blood_pressure: StrictStr | None = Field(default=None, max_length=16, examples=["140/90"])
    temperature: Measure = None
    pulse: Measure = None
    respiratory_rate: Measure = None
    spo2: Measure = None
    weight_kg: Measure = None
    height_cm: Measure = None


class NewEncounter(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"patient_id": "3f2a…", "visit_id": "9c1e…", "encounter_type": "TRIAGE",
                 "vital_signs": {"blood_pressure": "140/90", "temperature": 38.5, "pulse": 95},
                 "notes": "Chest pain radiating to the left arm"}
            ]
        }
    )  # fmt: skip
    patient_id: str = Id
    visit_id: str = Id
    encounter_type: EncounterType
    vital_signs: VitalSignsIn | None = None
    notes: str | None = Text
    findings: str | None = Text
    recommendations: str | None = Text


@endpoint(bp, "POST", "/patient-encounters", permission=Permission.ENCOUNTERS_TRIAGE, body=NewEncounter,
          response=Encounter, status=201)  # fmt: skip
def record(call: Call) -> Encounter:
    """Record a TRIAGE (vital signs) or CONSULTATION encounter of a visit (CONSULTATION: clinicians only)."""
    body: NewEncounter = call.body
    fields = body.model_dump(exclude={"vital_signs"})
    fields["vital_signs"] = body.vital_signs.model_dump(exclude_none=True) if body.vital_signs else None
    return encounters.record(call.scope, fields)


@endpoint(bp, "GET", "/patient-encounters/{encounter_id}", permission=Permission.ENCOUNTERS_READ, response=Encounter)
def encounter(call: Call, encounter_id: str) -> Encounter:
    """One encounter."""
    return encounters.get(call.scope, record_ids.record_id(encounter_id, "encounter_id"))


@endpoint(bp, "GET", "/patients/{patient_id}/encounters", permission=Permission.ENCOUNTERS_READ, query=PageQuery,
          response=Page[Encounter])  # fmt: skip
def patient_encounters(call: Call, patient_id: str) -> Page[Encounter]:
    """A patient's encounters, newest first."""
    query: PageQuery = call.query
    return encounters.for_patient(call.scope, params.patient_id(patient_id), limit=query.limit, next_token=query.next)
