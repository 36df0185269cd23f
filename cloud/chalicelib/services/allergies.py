"""Allergies: what a patient is allergic to (substance, reaction, severity), recorded by nurses and clinicians,
read by the pharmacist and the prescribing check (services/prescriptions.py). See docs/journey.md."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.db import allergies as repo
from chalicelib.db import store
from chalicelib.errors import NotFound
from chalicelib.models import Page
from chalicelib.services import audit
from chalicelib.services.encounters import require_patient
from chalicelib.services.scope import Scope

Severity = Literal["MILD", "MODERATE", "SEVERE"]


class Allergy(BaseModel):
    id: str
    patient_id: str
    substance: str
    reaction: str | None = None
    severity: Severity
    notes: str | None = None
    status: str
    recorded_by: str
    recorded_at: datetime


def view(item: repo.AllergyItem) -> Allergy:
    return Allergy(id=item.allergy_id, patient_id=item.patient_id, substance=item.substance, reaction=item.reaction,
                   severity=item.severity, notes=item.notes, status=item.status,
                   recorded_by=item.recorded_by, recorded_at=item.recorded_at)  # fmt: skip


def add(scope: Scope, patient_id: str, fields: dict[str, Any]) -> Allergy:
    require_patient(scope, patient_id)
    allergy_id, at = uuid.uuid4().hex, datetime.now(UTC)
    item = repo.new(scope, patient_id, allergy_id, at, **fields)
    with audit.change(scope, "allergy.recorded", resource="allergy", resource_id=allergy_id, at=at,
                      patient_id=patient_id) as c:  # fmt: skip
        repo.add(c, item)
        c.emit("allergy.recorded", allergy_id=allergy_id, patient_id=patient_id)
    return view(item)


def remove(scope: Scope, patient_id: str, allergy_id: str) -> None:
    require_patient(scope, patient_id)
    at = datetime.now(UTC)
    try:
        with audit.change(scope, "allergy.removed", resource="allergy", resource_id=allergy_id, at=at,
                          patient_id=patient_id) as c:  # fmt: skip
            repo.remove(c, scope, patient_id, allergy_id, at)
            c.emit("allergy.removed", allergy_id=allergy_id, patient_id=patient_id)
    except store.ConditionFailed:
        raise NotFound(
            "no recorded allergy with this id for this patient", code="not_found", field="allergy_id"
        ) from None


def for_patient(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> Page[Allergy]:
    require_patient(scope, patient_id)
    found = repo.active(scope, patient_id, limit=limit, next_token=next_token)
    audit.read(scope, "patient", [patient_id])
    return Page[Allergy](items=[view(row) for row in found.items], next=found.next)
