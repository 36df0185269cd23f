"""Diagnoses: an ICD-10 code recorded against a patient's encounter, its name filled in from the code list
(services/icd10.py); unknown codes are a 422 and store nothing. See docs/journey.md."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel

from chalicelib.db import diagnoses as repo
from chalicelib.errors import InvalidInput
from chalicelib.models import Page
from chalicelib.services import audit, encounters, icd10
from chalicelib.services.scope import Scope


class Diagnosis(BaseModel):
    id: str
    patient_id: str
    encounter_id: str
    visit_id: str | None = None
    diagnosis_code: str
    diagnosis_name: str
    billable: bool  # an ICD-10-CM leaf code (what an SHA claim needs)
    status: str
    notes: str | None = None
    diagnosed_by: str
    created_at: datetime


def _view(item: repo.DiagnosisItem) -> Diagnosis:
    return Diagnosis(
        id=item.diagnosis_id, patient_id=item.patient_id, encounter_id=item.encounter_id, visit_id=item.visit_id,
        diagnosis_code=item.diagnosis_code, diagnosis_name=item.diagnosis_name, billable=bool(item.billable),
        status=item.status, notes=item.notes, diagnosed_by=item.diagnosed_by, created_at=item.created_at,
    )  # fmt: skip


def add(scope: Scope, patient_id: str, encounter_id: str, diagnosis_code: str, notes: str | None) -> Diagnosis:
    code = icd10.lookup(diagnosis_code)  # 422 unknown_icd10_code before anything is read or written
    encounters.require_patient(scope, patient_id)
    encounter = encounters.load(scope, encounter_id)
    if encounter.patient_id != patient_id:
        raise InvalidInput("encounter_id is an encounter of another patient", code="encounter_patient_mismatch",
                           field="encounter_id")  # fmt: skip
    diagnosis_id, at = uuid.uuid4().hex, datetime.now(UTC)
    item = repo.new(
        scope, patient_id, diagnosis_id, at, encounter_id=encounter_id, visit_id=encounter.visit_id,
        diagnosis_code=code.code, diagnosis_name=code.name, billable=code.billable, status="ACTIVE", notes=notes,
    )  # fmt: skip
    with audit.change(scope, "diagnosis.added", resource="diagnosis", resource_id=diagnosis_id, at=at,
                      patient_id=patient_id, encounter_id=encounter_id) as c:  # fmt: skip
        repo.add(c, item)
        c.emit("diagnosis.added", diagnosis_id=diagnosis_id, patient_id=patient_id, encounter_id=encounter_id)
    return _view(item)


def for_patient(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> Page[Diagnosis]:
    encounters.require_patient(scope, patient_id)
    found = repo.page(scope, patient_id, limit=limit, next_token=next_token)
    audit.read(scope, "patient", [patient_id])
    return Page[Diagnosis](items=[_view(row) for row in found.items], next=found.next)
