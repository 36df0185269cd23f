"""Turns one object of the ingest bucket into DynamoDB records: envelopes, quarantine records, agent heartbeats.

Called by the `ingest` handler once per S3 record. Raises `RejectedMessage` for input that can never
succeed (the SQS message is retried, then lands in the DLQ); every write is idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from chalicelib.db import agents as agents_repo
from chalicelib.db import audit as audit_repo
from chalicelib.db import ledger
from chalicelib.db import patients as patients_repo
from chalicelib.db import quarantine as quarantine_repo
from chalicelib.db import readings as readings_repo
from chalicelib.db import unmatched as unmatched_repo
from chalicelib.db.keys import MAX_READINGS_PER_ENVELOPE
from chalicelib.errors import RejectedMessage
from chalicelib.models import AgentStatus, PatientRecord, QuarantineItem, StoredReading, UnmatchedEnvelope
from chalicelib.services import assignment, audit, fleet, ingest_checks, lab
from chalicelib.services import patients as patients_service
from chalicelib.services.assignment import path_hints
from chalicelib.services.scope import Scope
from shared_models import AgentHeartbeat, Envelope, PatientAssignment, QuarantineRecord
from shared_models.s3keys import clinic_of


class Outcome(StrEnum):
    MATCHED = "matched"  # readings stored under the patient
    UNMATCHED = "unmatched"  # no patient id: kept for staff to match
    NO_READINGS = "no_readings"  # an order: recorded in the ledger only (for now)
    PATIENT_UPDATED = "patient_updated"  # demographics stored as the patient's latest
    PATIENT_STALE = "patient_stale"  # a newer update was already stored: this older one is ignored
    DUPLICATE = "duplicate"  # this envelope (or quarantine record) was already ingested
    QUARANTINED = "quarantined"
    HEARTBEAT = "heartbeat"
    ASSIGNED = "assigned"  # an edge assignment gave an item's unmatched envelopes their patient
    ASSIGNMENT_HELD = "assignment_held"  # no such patient yet: kept as a hint, offered when one exists
    ASSIGNMENT_MOOT = "assignment_moot"  # the item's envelopes were matched already (content ids win)
    STALE_HEARTBEAT = "stale_heartbeat"  # older than the one stored: S3 events can arrive out of order
    PROBE_IGNORED = "probe_ignored"  # `medflow-edge doctor`'s write probe from agents before probes/


def ingest_object(key: str, body: bytes, *, now: datetime | None = None, written_at: datetime | None = None) -> Outcome:
    """Dispatches on the key's prefix (ARCHITECTURE §4). `written_at`: when S3 took the object (the notification's
    eventTime), the time of a quarantine record made here, so that a redelivery finds the same record."""
    now = now or datetime.now(UTC)
    prefix = key.split("/", 1)[0]
    if prefix == "envelopes":
        return ingest_envelope(key, _parse(Envelope, body, key), now=now, written_at=written_at)
    if prefix == "quarantine":
        return ingest_quarantine(key, _parse(QuarantineRecord, body, key), now=now)
    if prefix == "assignments":
        return ingest_assignment(key, _parse(PatientAssignment, body, key), now=now)
    if prefix == "agents":
        if is_doctor_probe(key):
            return Outcome.PROBE_IGNORED
        heartbeat = _parse(AgentHeartbeat, body, key)
        _check_clinic(key, heartbeat.clinic_id)
        if (mismatch := ingest_checks.misattributed(key, heartbeat.agent_id)) is not None:
            # Not retried into the DLQ (it would never pass): kept where GET /quarantine shows it, nothing stored.
            stored = ingest_checks.quarantine_object(
                key, body, ingest_checks.AGENT_MISMATCH, mismatch, clinic_id=heartbeat.clinic_id, at=written_at or now
            )
            return Outcome.QUARANTINED if stored else Outcome.DUPLICATE
        return ingest_heartbeat(key, heartbeat, now=now)
    raise RejectedMessage(f"no ingest rule for key prefix {prefix!r}", code="unknown_prefix")


def is_doctor_probe(key: str) -> bool:
    """`agents/{clinic}/{agent}/doctor.json`: where agents before 2026-12 wrote `doctor`'s probe. Not a heartbeat,
    nothing to ingest; acknowledged so that it does not end in the DLQ (agents now write it under probes/)."""
    parts = key.split("/")
    return len(parts) == 4 and parts[3] == "doctor.json"


def _parse(model: Any, body: bytes, key: str) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        # Error locations and types only: the input may hold PHI.
        where = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['type']}" for e in exc.errors()[:5])
        raise RejectedMessage(f"{key} is not a valid {model.__name__}: {where}", code="invalid_document") from None


def _check_clinic(key: str, clinic_id: str) -> None:
    # The key's clinic is what the uploader was allowed to write; the body must not claim another one.
    if clinic_of(key) != clinic_id:
        raise RejectedMessage(
            f"{key} belongs to clinic {clinic_of(key)!r} but its body names another clinic", code="clinic_mismatch"
        )


def ingest_envelope(key: str, envelope: Envelope, *, now: datetime, written_at: datetime | None = None) -> Outcome:
    _check_clinic(key, envelope.clinic_id)
    if len(envelope.readings) > MAX_READINGS_PER_ENVELOPE:
        raise RejectedMessage(f"{key} holds more than {MAX_READINGS_PER_ENVELOPE} readings", code="too_many_readings")
    if ledger.is_ingested(envelope.clinic_id, envelope.envelope_id):
        return Outcome.DUPLICATE
    if (future := ingest_checks.future_dated(envelope, now=now)) is not None:
        at = written_at or now
        stored = ingest_checks.quarantine_envelope(envelope, ingest_checks.FUTURE_TIMESTAMP, future, at=at)
        return Outcome.QUARANTINED if stored else Outcome.DUPLICATE
    outcome = _store_envelope(envelope, now)
    # The audit names the patient whose record the envelope wrote (an id, never demographics).
    patient: dict[str, Any] = {"patient_id": _patient_id(envelope)} if outcome is Outcome.PATIENT_UPDATED else {}
    committed = ledger.commit(
        clinic_id=envelope.clinic_id,
        agent_id=envelope.agent_id,
        envelope_id=envelope.envelope_id,
        s3_key=key,
        outcome=outcome.value,
        readings=len(envelope.readings),
        at=now,
        event=audit.event(
            "envelope.ingested",
            clinic_id=envelope.clinic_id,
            actor=audit.SYSTEM_INGEST,
            at=now,
            envelope_id=envelope.envelope_id,
            agent_id=envelope.agent_id,
            outcome=outcome.value,
            **patient,
        ),
    )
    return outcome if committed else Outcome.DUPLICATE


def _patient_id(envelope: Envelope) -> str:
    """The id the envelope's readings/demographics attach to: a registered patient's id when the sender
    used its OP number (lookup `OP#{op}`), else the id as sent."""
    sent = (envelope.patient.id or "").strip()
    return patients_service.resolve(envelope.clinic_id, sent) if sent else sent


def _store_envelope(envelope: Envelope, now: datetime) -> Outcome:
    patient_id = _patient_id(envelope)
    if envelope.kind == "patient_update" and patient_id:
        return _store_patient(envelope, patient_id)
    readings = [reading.model_dump(mode="json", exclude_none=True) for reading in envelope.readings]
    adapter = envelope.adapter.model_dump(mode="json", exclude_none=True)
    device = envelope.device.model_dump(mode="json", exclude_none=True)
    if envelope.kind == "order" and not readings:
        return Outcome.NO_READINGS
    if not patient_id:
        unmatched_repo.put(
            UnmatchedEnvelope(
                clinic_id=envelope.clinic_id,
                envelope_id=envelope.envelope_id,
                agent_id=envelope.agent_id,
                received_at=envelope.source.received_at,
                captured_at=envelope.captured_at,
                adapter=adapter,
                device=device,
                source=envelope.source.model_dump(mode="json", exclude_none=True),
                raw_key=envelope.raw.key,
                readings=readings,
            )
        )
        # Tokens of the source path that may name the patient: offered when such a patient exists.
        hints = path_hints(envelope.source.model_dump(mode="json"), envelope.raw.original_name)
        if hints:
            unmatched_repo.put_hints(envelope.clinic_id, envelope.envelope_id, hints, source="path")
        return Outcome.UNMATCHED
    # One record per patient id: readings under an id nobody registered yet create a minimal one.
    patients_repo.ensure(envelope.clinic_id, patient_id, id_source=envelope.patient.id_source,
                         seen_at=envelope.captured_at or envelope.source.received_at)  # fmt: skip
    readings_repo.put_all(
        StoredReading(
            clinic_id=envelope.clinic_id,
            patient_id=patient_id,
            envelope_id=envelope.envelope_id,
            index=index,
            kind=str(reading["kind"]),
            captured_at=envelope.captured_at,
            received_at=envelope.source.received_at,
            agent_id=envelope.agent_id,
            adapter=adapter,
            device=device,
            raw_key=envelope.raw.key,
            reading=reading,
        )
        for index, reading in enumerate(readings)
    )
    # Analyzer results carrying a lab request's specimen id complete it (idempotent: retried deliveries too).
    lab.link_results(envelope, patient_id, at=now)
    return Outcome.MATCHED if readings else Outcome.NO_READINGS


def _store_patient(envelope: Envelope, patient_id: str) -> Outcome:
    demographics = envelope.patient.demographics
    record = PatientRecord(
        clinic_id=envelope.clinic_id,
        patient_id=patient_id,
        id_source=envelope.patient.id_source,
        family_name=demographics.family_name if demographics else None,
        given_name=demographics.given_name if demographics else None,
        birth_date=demographics.birth_date if demographics else None,
        sex=demographics.sex if demographics else None,
        other_ids=list(demographics.other_ids) if demographics else [],
        # HL7 ADT stamps the message (MSH-7) as captured_at; without it, when the agent received it.
        updated_at=envelope.captured_at or envelope.source.received_at,
        envelope_id=envelope.envelope_id,
        event=envelope.context.get("event") or None,
    )
    before = patients_repo.load(envelope.clinic_id, patient_id)
    if not patients_repo.upsert(record):
        return Outcome.PATIENT_STALE
    patients_service.follow_adt(envelope.clinic_id, patient_id, before)
    return Outcome.PATIENT_UPDATED


def ingest_quarantine(key: str, record: QuarantineRecord, *, now: datetime) -> Outcome:
    _check_clinic(key, record.clinic_id)
    item = QuarantineItem(
        clinic_id=record.clinic_id,
        agent_id=record.agent_id,
        sha256=record.raw.sha256,
        reason=record.reason.value,
        detail=record.detail,
        adapter=record.adapter,
        quarantined_at=record.quarantined_at,
        source=record.source.model_dump(mode="json", exclude_none=True),
        raw_key=record.raw.key,
    )
    event = audit.event(
        "quarantine.recorded",
        clinic_id=record.clinic_id,
        actor=audit.SYSTEM_INGEST,
        at=now,
        sha256=record.raw.sha256,
        agent_id=record.agent_id,
        reason=record.reason.value,
    )
    return Outcome.QUARANTINED if quarantine_repo.record(item, at=now, event=event) else Outcome.DUPLICATE


def ingest_heartbeat(key: str, heartbeat: AgentHeartbeat, *, now: datetime) -> Outcome:
    _check_clinic(key, heartbeat.clinic_id)
    if key.split("/")[2:3] != [heartbeat.agent_id]:  # ingest_object quarantines these before they get here
        raise RejectedMessage(f"{key} does not belong to agent {heartbeat.agent_id!r}", code="agent_mismatch")
    previous = agents_repo.get(heartbeat.clinic_id, heartbeat.agent_id)
    status = AgentStatus(
        clinic_id=heartbeat.clinic_id,
        agent_id=heartbeat.agent_id,
        version=heartbeat.version,
        sent_at=heartbeat.sent_at,
        started_at=heartbeat.started_at,
        counts=dict(heartbeat.counts),
        last_upload_at=heartbeat.last_upload_at,
        last_error=heartbeat.last_error,
        last_error_at=heartbeat.last_error_at,
    )
    if not agents_repo.record_heartbeat(status, fleet.heartbeat_attributes(heartbeat, previous)):
        return Outcome.STALE_HEARTBEAT
    fleet.after_heartbeat(heartbeat.clinic_id, heartbeat.agent_id, now)  # resolves what spoke again
    if previous is None:
        # Heartbeats are telemetry (one a minute): only an agent's first appearance is audited.
        audit_repo.record(
            audit.event(
                "agent.registered",
                clinic_id=heartbeat.clinic_id,
                actor=audit.SYSTEM_INGEST,
                at=now,
                agent_id=heartbeat.agent_id,
            )
        )
    return Outcome.HEARTBEAT


class NotYetIngested(Exception):
    """An assignment arrived before the envelopes it is for (S3 events are unordered): retried later."""


def ingest_assignment(key: str, record: PatientAssignment, *, now: datetime) -> Outcome:
    """Gives a received item's unmatched envelopes the patient id the edge learned (docs/edge_agent.md).

    Envelopes whose content named a patient keep it; an assignment for envelopes not ingested yet is
    retried (the SQS message comes back), so order does not matter."""
    _check_clinic(key, record.clinic_id)
    if key.split("/")[2:3] != [record.raw_sha256]:
        raise RejectedMessage(f"{key} does not belong to item {record.raw_sha256}", code="item_mismatch")
    pending = unmatched_repo.of_item(record.clinic_id, record.raw_sha256)
    if not pending:
        if ledger.is_ingested(record.clinic_id, record.raw_sha256):
            return Outcome.ASSIGNMENT_MOOT
        raise NotYetIngested(f"no envelope of {record.raw_sha256} ingested yet")
    scope = Scope.system(record.clinic_id, audit.SYSTEM_INGEST)
    assigned = [assignment.assign_from_device(scope, envelope_id, record.patient_id) for envelope_id in pending]
    return Outcome.ASSIGNED if all(assigned) else Outcome.ASSIGNMENT_HELD
