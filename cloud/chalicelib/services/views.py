"""Read models for staff: patients, readings, unmatched envelopes, quarantine, agents; always the caller's clinic."""

from __future__ import annotations

from chalicelib.db import agents as agents_repo
from chalicelib.db import patients as patients_repo
from chalicelib.db import quarantine as quarantine_repo
from chalicelib.db import readings as readings_repo
from chalicelib.db import unmatched as unmatched_repo
from chalicelib.errors import NotFound
from chalicelib.models import AgentStatus, Page, PatientRecord, QuarantineItem, StoredReading, UnmatchedEnvelope
from chalicelib.services.tokens import Principal


def patient(principal: Principal, patient_id: str) -> PatientRecord:
    record = patients_repo.get(principal.clinic_id, patient_id)
    if record is None:
        # The same answer whether the id is unknown or another clinic's: existence must not leak.
        raise NotFound("no patient with this id in your clinic", code="not_found")
    return record


def patient_readings(
    principal: Principal, patient_id: str, *, kind: str | None, limit: int, next_token: str | None
) -> Page[StoredReading]:
    return readings_repo.list_for_patient(
        principal.clinic_id, patient_id, kind=kind, limit=limit, next_token=next_token
    )


def unmatched(principal: Principal, *, limit: int, next_token: str | None) -> Page[UnmatchedEnvelope]:
    return unmatched_repo.list_for_clinic(principal.clinic_id, limit=limit, next_token=next_token)


def quarantine(principal: Principal, *, limit: int, next_token: str | None) -> Page[QuarantineItem]:
    return quarantine_repo.list_for_clinic(principal.clinic_id, limit=limit, next_token=next_token)


def agents(principal: Principal) -> list[AgentStatus]:
    return agents_repo.list_for_clinic(principal.clinic_id)
