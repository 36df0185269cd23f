"""Key builders: every partition key begins with `CLINIC#{clinic_id}`, so one clinic can never read another's items."""

from __future__ import annotations

from datetime import UTC, datetime

SEP = "#"


def segment(value: str) -> str:
    """A value made safe to sit between `#` separators (ids from devices may contain anything)."""
    return value.replace("%", "%25").replace(SEP, "%23")


def clinic_pk(clinic_id: str) -> str:
    return f"CLINIC#{segment(clinic_id)}"


def patient_pk(clinic_id: str, patient_id: str) -> str:
    return f"{clinic_pk(clinic_id)}#PATIENT#{segment(patient_id)}"


def patient_sk(patient_id: str) -> str:
    """Range key of a patient's demographics item (partition: the clinic)."""
    return f"PATIENT#{segment(patient_id)}"


def sortable_time(at: datetime | None) -> str:
    """A fixed-width, lexically sortable timestamp. Aware times are converted to UTC; naive ones
    (devices that print local time without an offset) are kept as written."""
    if at is None:
        return "0000-00-00T00:00:00.000000"
    if at.tzinfo is not None:
        return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


MAX_READINGS_PER_ENVELOPE = 100_000


def _rank(index: int) -> str:
    # Queries run newest first (descending); the complement keeps one capture's readings in device order.
    if not 0 <= index < MAX_READINGS_PER_ENVELOPE:
        raise ValueError(f"reading index {index} outside 0..{MAX_READINGS_PER_ENVELOPE - 1}")
    return f"{MAX_READINGS_PER_ENVELOPE - 1 - index:05d}"


def reading_sk(captured: str, envelope_id: str, index: int) -> str:
    return f"READING#{captured}#{segment(envelope_id)}#{_rank(index)}"


def reading_kind_sk(kind: str, captured: str, envelope_id: str, index: int) -> str:
    """Range key of the `by_kind` local index: newest-first queries of one kind for one patient."""
    return f"{segment(kind)}#{captured}#{segment(envelope_id)}#{_rank(index)}"


def unmatched_sk(envelope_id: str) -> str:
    return f"UNMATCHED#{segment(envelope_id)}"


def quarantine_sk(quarantined: str, sha256: str) -> str:
    return f"QUARANTINE#{quarantined}#{segment(sha256)}"


def agent_sk(agent_id: str) -> str:
    return f"AGENT#{segment(agent_id)}"


def user_sk(email: str) -> str:
    return f"USER#{segment(email)}"


def ledger_pk(clinic_id: str, envelope_id: str) -> str:
    return f"{clinic_pk(clinic_id)}#ENVELOPE#{segment(envelope_id)}"


LEDGER_SK = "INGESTED"
