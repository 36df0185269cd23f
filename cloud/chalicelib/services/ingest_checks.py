"""Checks ingest makes on an envelope before storing it: times no agent can honestly send (far in the future).

A forged or clock-broken patient update dated ahead would win every later update for good (the
newest update wins), so an envelope whose `captured_at` or receive time lies more than
`FUTURE_TOLERANCE` ahead of the cloud's clock is not stored: it is quarantined in the cloud with
the reason `future_timestamp` (visible in GET /quarantine, raw bytes kept under raw/).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.db import quarantine as quarantine_repo
from chalicelib.models import QuarantineItem
from chalicelib.services import audit
from shared_models import Envelope

FUTURE_TOLERANCE = timedelta(hours=24)  # time zones and a badly set clinic clock stay well inside this
FUTURE_TIMESTAMP = "future_timestamp"


def future_dated(envelope: Envelope, *, now: datetime) -> str | None:
    """Why the envelope's times cannot be true, or None."""
    limit = now + FUTURE_TOLERANCE
    for name, value in (("captured_at", envelope.captured_at), ("source.received_at", envelope.source.received_at)):
        # A device that prints local time without an offset gives a naive time (kept as written): compared as if
        # UTC, which the 24 h tolerance absorbs, rather than failing the whole message on the comparison.
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and value > limit:
            return f"{name} {value.isoformat()} is more than {FUTURE_TOLERANCE} ahead of the cloud's clock"
    return None


def quarantine_envelope(envelope: Envelope, reason: str, detail: str, *, now: datetime) -> bool:
    """Records the envelope as quarantined in the cloud (once: False for a repeated delivery)."""
    item = QuarantineItem(
        clinic_id=envelope.clinic_id,
        agent_id=envelope.agent_id,
        sha256=envelope.raw.sha256,
        reason=reason,
        detail=detail,
        adapter=envelope.adapter.name,
        quarantined_at=now,
        source=envelope.source.model_dump(mode="json", exclude_none=True),
        raw_key=envelope.raw.key,
    )
    event = audit.event(
        "quarantine.recorded", clinic_id=envelope.clinic_id, actor=audit.SYSTEM_INGEST, at=now,
        sha256=envelope.raw.sha256, agent_id=envelope.agent_id, reason=reason,
    )  # fmt: skip
    return quarantine_repo.record(item, at=now, event=event)
