"""Encounters: a nurse's TRIAGE (vital signs) and a clinician's CONSULTATION (notes, findings, recommendations),
each under a visit of the patient; read back per patient or by id (reads audited). See docs/journey.md.

Recording a TRIAGE encounter does not move the visit: the visits domain owns its transitions, and the
client moves a REGISTERED visit to TRIAGED with `PUT /visits/{visit_id}`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.db import encounters as repo
from chalicelib.db import patients as patients_repo
from chalicelib.errors import Forbidden, InvalidInput, NotFound
from chalicelib.models import Page
from chalicelib.services import audit, visits, vitals
from chalicelib.services.roles import Permission, allows
from chalicelib.services.scope import Scope
from chalicelib.services.vitals import VitalSigns

EncounterType = Literal["TRIAGE", "CONSULTATION"]


class Encounter(BaseModel):
    id: str
    patient_id: str
    visit_id: str
    encounter_type: EncounterType
    vital_signs: VitalSigns | None = None
    notes: str | None = None
    findings: str | None = None
    recommendations: str | None = None
    provider: str
    created_at: datetime


def _view(item: repo.EncounterItem) -> Encounter:
    return Encounter(
        id=item.encounter_id,
        patient_id=item.patient_id,
        visit_id=item.visit_id,
        encounter_type=item.encounter_type,
        vital_signs=VitalSigns.model_validate(item.vital_signs) if item.vital_signs else None,
        notes=item.notes,
        findings=item.findings,
        recommendations=item.recommendations,
        provider=item.provider,
        created_at=item.created_at,
    )


def require_patient(scope: Scope, patient_id: str) -> str:
    """The patient's id if it is a patient of the caller's clinic (and, for a patient token, the caller); else 404."""
    if patients_repo.load(scope.clinic_id, scope.patient(patient_id)) is None:
        raise NotFound("no patient with this id in your clinic", code="not_found", field="patient_id")
    return patient_id


def record(scope: Scope, fields: dict[str, Any]) -> Encounter:
    """Records an encounter. A CONSULTATION needs ENCOUNTERS_CONSULT besides the route's ENCOUNTERS_TRIAGE (403);
    vital signs are checked and kept only as numbers (422 naming the field)."""
    encounter_type: EncounterType = fields["encounter_type"]
    if encounter_type == "CONSULTATION" and (
        scope.role is None or not allows(scope.role, Permission.ENCOUNTERS_CONSULT)
    ):
        raise Forbidden("only a clinician may record a CONSULTATION encounter", code="forbidden")
    raw_vitals = fields.get("vital_signs")
    checked = vitals.parse(raw_vitals) if raw_vitals is not None else None
    if encounter_type == "TRIAGE" and checked is None:
        raise InvalidInput("a TRIAGE encounter records vital_signs", code="invalid_request", field="vital_signs")
    patient_id = require_patient(scope, fields["patient_id"])
    visit = visits.require_open_for_patient(scope, fields["visit_id"], patient_id)
    encounter_id, at = uuid.uuid4().hex, datetime.now(UTC)
    item = repo.new(
        scope, patient_id, encounter_id, at, visit_id=visit.id, encounter_type=encounter_type,
        vital_signs=checked.model_dump(exclude_none=True) if checked else None, notes=fields.get("notes"),
        findings=fields.get("findings"), recommendations=fields.get("recommendations"),
    )  # fmt: skip
    with audit.change(scope, "encounter.recorded", resource="encounter", resource_id=encounter_id, at=at,
                      patient_id=patient_id, visit_id=visit.id, encounter_type=encounter_type) as c:  # fmt: skip
        repo.add(c, scope, item)
        c.emit("encounter.recorded", encounter_id=encounter_id, patient_id=patient_id, visit_id=visit.id,
               encounter_type=encounter_type)  # fmt: skip
    return _view(item)


def load(scope: Scope, encounter_id: str) -> repo.EncounterItem:
    """The encounter of the caller's clinic (a patient token: of its patient), else 404."""
    item = repo.load(scope, encounter_id)
    if item is None or (scope.patient_id is not None and item.patient_id != scope.patient_id):
        raise NotFound("no encounter with this id in your clinic", code="not_found", field="encounter_id")
    return item


def get(scope: Scope, encounter_id: str) -> Encounter:
    encounter = _view(load(scope, encounter_id))
    audit.read(scope, "encounter", [encounter.id])
    return encounter


def for_patient(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> Page[Encounter]:
    require_patient(scope, patient_id)
    found = repo.page(scope, patient_id, limit=limit, next_token=next_token)
    audit.read(scope, "patient", [patient_id])
    return Page[Encounter](items=[_view(row) for row in found.items], next=found.next)
