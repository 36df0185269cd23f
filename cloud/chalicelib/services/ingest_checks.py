"""Checks ingest makes on an object before storing it: times no agent can honestly send (far in the future), and a
body naming another agent than the key it was written under.

A forged or clock-broken patient update dated ahead would win every later update for good (the
newest update wins), so an envelope whose `captured_at` or receive time lies more than
`FUTURE_TOLERANCE` ahead of the cloud's clock is not stored: it is quarantined in the cloud with
the reason `future_timestamp` (visible in GET /quarantine, raw bytes kept under raw/).

Keys under `agents/{clinic}/{agent}/` carry the agent that wrote them (an agent's credentials may write only its
own folder: infra/policies.py), so a heartbeat there naming another agent is not stored either: quarantined
with the reason `agent_mismatch`, under the key's agent. Envelope, quarantine and assignment keys carry no agent
(`{prefix}/{clinic}/...`), so there the body's `agent_id` cannot be checked against the key.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.db import quarantine as quarantine_repo
from chalicelib.models import QuarantineItem
from chalicelib.services import audit
from shared_models import Envelope

FUTURE_TOLERANCE = timedelta(hours=24)  # time zones and a badly set clinic clock stay well inside this
FUTURE_TIMESTAMP = "future_timestamp"
AGENT_MISMATCH = "agent_mismatch"


def agent_of(key: str) -> str | None:
    """The agent a key was written by, where the layout carries it (`agents/{clinic}/{agent}/...`), else None."""
    parts = key.split("/")
    return parts[2] if len(parts) >= 4 and parts[0] == "agents" else None


def misattributed(key: str, agent_id: str) -> str | None:
    """Why a body naming `agent_id` cannot have been written under `key`, or None."""
    writer = agent_of(key)
    if writer is None or writer == agent_id:
        return None
    return f"the key belongs to agent {writer!r} but its body names agent {agent_id!r}"


def future_dated(envelope: Envelope, *, now: datetime) -> str | None:
    """Why the envelope's times cannot be true, or None."""
    limit = now + FUTURE_TOLERANCE
    for name, value in (("captured_at", envelope.captured_at), ("source.received_at", envelope.source.received_at)):
        # A device time without an offset (most HL7 MSH-7 / OBR-7 stamps) is read as UTC: a clinic's local
        # time is at most 14 h off it, well inside the tolerance.
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value is not None and value > limit:
            return f"{name} {value.isoformat()} is more than {FUTURE_TOLERANCE} ahead of the cloud's clock"
    return None


def quarantine_envelope(envelope: Envelope, reason: str, detail: str, *, at: datetime) -> bool:
    """Records the envelope as quarantined in the cloud at `at` (once: False for a repeated delivery at the same `at`:
    the record's key is its time and sha256, so callers pass when S3 took the object, not the time of delivery)."""
    source = envelope.source.model_dump(mode="json", exclude_none=True)
    return _record(envelope.clinic_id, envelope.agent_id, envelope.raw.sha256, reason, detail,
                   adapter=envelope.adapter.name, source=source, raw_key=envelope.raw.key, at=at)  # fmt: skip


def quarantine_object(key: str, body: bytes, reason: str, detail: str, *, clinic_id: str, at: datetime) -> bool:
    """Records an object of the bucket other than an envelope (a heartbeat) as quarantined in the cloud, under the
    agent its key names (who wrote it) and the SHA-256 of its bytes (once: False for a repeated delivery)."""
    writer = agent_of(key) or "unknown"
    return _record(clinic_id, writer, hashlib.sha256(body).hexdigest(), reason, detail,
                   adapter=None, source={"kind": "s3", "uri": key}, raw_key=key, at=at)  # fmt: skip


def _record(
    clinic_id: str, agent_id: str, sha256: str, reason: str, detail: str, *,
    adapter: str | None, source: dict[str, Any], raw_key: str, at: datetime,
) -> bool:  # fmt: skip
    item = QuarantineItem(
        clinic_id=clinic_id,
        agent_id=agent_id,
        sha256=sha256,
        reason=reason,
        detail=detail,
        adapter=adapter,
        quarantined_at=at,
        source=source,
        raw_key=raw_key,
    )
    event = audit.event(
        "quarantine.recorded", clinic_id=clinic_id, actor=audit.SYSTEM_INGEST, at=at,
        sha256=sha256, agent_id=agent_id, reason=reason,
    )  # fmt: skip
    return quarantine_repo.record(item, at=at, event=event)
