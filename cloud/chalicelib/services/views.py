"""Read models for staff: patients, readings, unmatched envelopes, quarantine, agents — always within the scope's
clinic; reads of a patient's record are audited (one entry per page)."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.db import agents as agents_repo
from chalicelib.db import patients as patients_repo
from chalicelib.db import quarantine as quarantine_repo
from chalicelib.db import readings as readings_repo
from chalicelib.db import unmatched as unmatched_repo
from chalicelib.errors import NotFound
from chalicelib.models import AgentStatus, Page, QuarantineItem, StoredReading, UnmatchedEnvelope
from chalicelib.services import audit, fleet, previews
from chalicelib.services.scope import Scope


def patient_readings(
    scope: Scope, patient_id: str, *, kind: str | None, limit: int, next_token: str | None
) -> Page[StoredReading]:
    if patients_repo.load(scope.clinic_id, scope.patient(patient_id)) is None:
        # Unknown here, or another clinic's: the same 404, so existence does not leak.
        raise NotFound("no patient with this id in your clinic", code="not_found")
    page = readings_repo.list_for_patient(scope.clinic_id, patient_id, kind=kind, limit=limit, next_token=next_token)
    if page.items:
        audit.read(scope, "patient", [patient_id])
    return Page[StoredReading](items=previews.attach(scope.clinic_id, page.items), next=page.next)


def unmatched(scope: Scope, *, limit: int, next_token: str | None) -> Page[UnmatchedEnvelope]:
    return unmatched_repo.list_for_clinic(scope.clinic_id, limit=limit, next_token=next_token)


def quarantine(scope: Scope, *, limit: int, next_token: str | None) -> Page[QuarantineItem]:
    return quarantine_repo.list_for_clinic(scope.clinic_id, limit=limit, next_token=next_token)


def agents(scope: Scope, *, limit: int, next_token: str | None) -> Page[AgentStatus]:
    page = agents_repo.list_for_clinic(scope.clinic_id, limit=limit, next_token=next_token)
    now = datetime.now(UTC)
    return Page[AgentStatus](items=[fleet.status(agent, now) for agent in page.items], next=page.next)
