"""Unmatched envelopes repository: envelopes without a patient id, per clinic, newest first."""

from __future__ import annotations

from chalicelib.db import keys, pagination
from chalicelib.db.tables import UnmatchedItem, bound
from chalicelib.models import Page, UnmatchedEnvelope


def put(envelope: UnmatchedEnvelope) -> None:
    """Idempotent: the key is derived from the envelope, so a second write replaces the first."""
    bound()
    UnmatchedItem(
        keys.clinic_pk(envelope.clinic_id),
        keys.unmatched_sk(keys.sortable_time(envelope.received_at), envelope.envelope_id),
        clinic_id=envelope.clinic_id,
        envelope_id=envelope.envelope_id,
        agent_id=envelope.agent_id,
        received_at=envelope.received_at,
        captured_at=envelope.captured_at.isoformat() if envelope.captured_at else None,
        adapter=envelope.adapter,
        device=envelope.device,
        source=envelope.source,
        raw_key=envelope.raw_key,
        readings=envelope.readings,
    ).save()


def list_for_clinic(clinic_id: str, *, limit: int, next_token: str | None) -> Page[UnmatchedEnvelope]:
    bound()
    pk = keys.clinic_pk(clinic_id)
    rows = UnmatchedItem.query(
        pk,
        UnmatchedItem.sk.startswith("UNMATCHED#"),
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=pagination.decode(next_token, pk, {"pk", "sk"}),
    )
    items = [
        UnmatchedEnvelope.model_validate(
            {
                "clinic_id": row.clinic_id,
                "envelope_id": row.envelope_id,
                "agent_id": row.agent_id,
                "received_at": row.received_at,
                "captured_at": row.captured_at,
                "adapter": row.adapter or {},
                "device": row.device or {},
                "source": row.source or {},
                "raw_key": row.raw_key,
                "readings": row.readings or [],
            }
        )
        for row in rows
    ]
    return Page[UnmatchedEnvelope](items=items, next=pagination.encode(rows.last_evaluated_key))
