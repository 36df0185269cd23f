"""Unmatched device captures resolved by staff: assign an envelope's readings to a patient, undo it the same
day, and the candidates offered to a patient (docs/patients.md, "Assignment").

The readings are written under the patient's partition exactly as a matched ingest would have written them
(same keys), so assigning twice leaves one copy. Up to `MAX_IN_ONE_TRANSACTION` readings move in one
transaction with the unmatched item's state change, the audit entry and the event; larger envelopes are
first marked `assigning` (in a transaction with the audit entry and event), then copied in batches, then
marked `assigned`; repeating the call resumes an interrupted copy.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel

from chalicelib.db import patients as patients_repo
from chalicelib.db import readings as readings_repo
from chalicelib.db import store
from chalicelib.db import unmatched as unmatched_repo
from chalicelib.errors import Conflict, NotFound
from chalicelib.models import StoredReading, UnmatchedEnvelope
from chalicelib.services import audit, patients
from chalicelib.services import patient_search as terms
from chalicelib.services.scope import Scope

MAX_IN_ONE_TRANSACTION = 97  # 100 items minus the unmatched item, the audit entry and the event
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]{2,63}")


class AssignmentResult(BaseModel):
    envelope_id: str
    patient_id: str
    state: str  # "assigned" | "unmatched"
    readings: int


def _envelope(scope: Scope, envelope_id: str) -> tuple[UnmatchedEnvelope, unmatched_repo.Assignment]:
    found = unmatched_repo.get_with_state(scope.clinic_id, envelope_id)
    if found is None:
        raise NotFound("no unmatched capture with this id in your clinic", code="not_found")
    return found


def _readings(envelope: UnmatchedEnvelope, patient_id: str) -> list[StoredReading]:
    return [
        StoredReading(
            clinic_id=envelope.clinic_id,
            patient_id=patient_id,
            envelope_id=envelope.envelope_id,
            index=index,
            kind=str(reading.get("kind", "unknown")),
            captured_at=envelope.captured_at,
            received_at=envelope.received_at,
            agent_id=envelope.agent_id,
            adapter=envelope.adapter,
            device=envelope.device,
            raw_key=envelope.raw_key,
            reading=reading,
        )
        for index, reading in enumerate(envelope.readings)
    ]


def assign(scope: Scope, envelope_id: str, patient_id: str, *, at: datetime | None = None) -> AssignmentResult:
    """Moves the envelope's readings under the patient (its id or OP number); 409 if assigned to another."""
    at = at or datetime.now(UTC)
    target = patients.resolve(scope.clinic_id, patient_id)
    if patients_repo.load(scope.clinic_id, target) is None:
        raise NotFound("no patient with this id in your clinic", code="not_found", field="patient_id")
    envelope, state = _envelope(scope, envelope_id)
    if state.state is not None and state.patient_id != target:
        raise Conflict("this capture is already assigned to another patient", code="already_assigned")
    readings = _readings(envelope, target)
    result = AssignmentResult(envelope_id=envelope_id, patient_id=target, state="assigned", readings=len(readings))
    if state.state == "assigned":
        return result  # the same request again
    try:
        if state.state is None and len(readings) <= MAX_IN_ONE_TRANSACTION:
            with _change(scope, "readings.assigned", envelope_id, target, at) as c:
                unmatched_repo.mark(c, scope.clinic_id, envelope_id, state="assigned", patient_id=target, at=at,
                                    actor=scope.actor, expect=None)  # fmt: skip
                for reading in readings:
                    readings_repo.add(c, reading)
            return result
        if state.state is None:
            with _change(scope, "readings.assigned", envelope_id, target, at) as c:
                unmatched_repo.mark(c, scope.clinic_id, envelope_id, state="assigning", patient_id=target, at=at,
                                    actor=scope.actor, expect=None)  # fmt: skip
        readings_repo.put_all(readings)
        unmatched_repo.finish(scope.clinic_id, envelope_id, target)
    except store.ConditionFailed:
        raise Conflict("this capture was assigned meanwhile", code="already_assigned") from None
    return result


def unassign(scope: Scope, envelope_id: str, *, at: datetime | None = None) -> AssignmentResult:
    """Undoes an assignment made the same day (UTC: the clinic's time zone is not available to this domain
    yet); later → 409 `unassign_window_closed`."""
    at = at or datetime.now(UTC)
    envelope, state = _envelope(scope, envelope_id)
    if state.state != "assigned" or state.patient_id is None or state.assigned_at is None:
        raise Conflict("this capture is not assigned", code="not_assigned")
    if state.assigned_at.astimezone(UTC).date() != at.astimezone(UTC).date():
        raise Conflict("an assignment can only be undone on the day it was made", code="unassign_window_closed")
    patient_id = state.patient_id
    readings = _readings(envelope, patient_id)
    try:
        with _change(scope, "readings.unassigned", envelope_id, patient_id, at) as c:
            unmatched_repo.restore(c, envelope, patient_id)
            if len(readings) <= MAX_IN_ONE_TRANSACTION:
                for reading in readings:
                    readings_repo.remove(c, reading)
            else:
                readings_repo.delete_all(readings)  # before the commit: a failure leaves it assigned, retryable
    except store.ConditionFailed:
        raise Conflict("this capture changed meanwhile", code="not_assigned") from None
    return AssignmentResult(envelope_id=envelope_id, patient_id=patient_id, state="unmatched", readings=len(readings))


def _change(scope: Scope, action: str, envelope_id: str, patient_id: str, at: datetime):  # type: ignore[no-untyped-def]
    change = audit.change(scope, action, resource="patient", resource_id=patient_id, at=at, envelope_id=envelope_id)
    return _Emitting(change, action, patient_id=patient_id, envelope_id=envelope_id)


class _Emitting:
    """`audit.change` that also emits the domain event named like the action."""

    def __init__(self, inner, event: str, **subject: str) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.event, self.subject = inner, event, subject

    def __enter__(self) -> audit.Change:
        work = self.inner.__enter__()
        work.emit(self.event, **self.subject)
        return work

    def __exit__(self, *exc: object) -> bool | None:
        return self.inner.__exit__(*exc)


def candidates(scope: Scope, patient_id: str) -> list[UnmatchedEnvelope]:
    """Unmatched captures whose hints (a device-sent patient id, source path tokens) name this patient's id,
    OP number or national id: one Query per token, then one BatchGetItem; assigned ones are left out."""
    stored = patients_repo.load(scope.clinic_id, scope.patient(patient_id))
    if stored is None:
        raise NotFound("no patient with this id in your clinic", code="not_found")
    tokens = [stored.patient_id, stored.op_number, terms.normalise_nid(stored.national_id or "")]
    envelope_ids: list[str] = []
    for token in dict.fromkeys(t for t in tokens if t):
        envelope_ids += unmatched_repo.hinted(scope.clinic_id, token)
    if not envelope_ids:
        return []
    found = unmatched_repo.get_many(scope.clinic_id, envelope_ids)
    offered = [envelope for envelope, state in found if state.state is None]
    return sorted(offered, key=lambda e: e.received_at, reverse=True)


def path_hints(source: dict[str, object], original_name: str | None) -> list[str]:
    """Patient-like tokens of a capture's source (folder names, file-name parts that contain a digit)."""
    text = f"{source.get('uri') or ''}/{original_name or ''}"
    return [token for token in _TOKEN.findall(text) if any(ch.isdigit() for ch in token)][:10]


def assign_from_device(scope: Scope, envelope_id: str, device_patient_id: str) -> bool:
    """For the ingest (not wired yet): an unmatched capture for which the edge later learned a patient id
    (e.g. a duplicate file whose folder names the patient). If that id (or OP number) is a patient of the
    clinic, the capture is assigned to it (audited as the calling scope, e.g. `system:ingest`) and True is
    returned; otherwise a hint is recorded so that the capture is offered as a candidate when a patient
    with that id, OP number or national id exists, and False is returned."""
    target = patients.resolve(scope.clinic_id, device_patient_id)
    stored = patients_repo.load(scope.clinic_id, target)
    if stored is not None:
        assign(scope, envelope_id, target)
        return True
    unmatched_repo.put_hints(scope.clinic_id, envelope_id, [device_patient_id], source="device")
    return False
