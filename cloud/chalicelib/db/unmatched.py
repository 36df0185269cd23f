"""Unmatched envelopes repository: envelopes without a patient id, per clinic, newest first."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.models import Page, UnmatchedEnvelope


class UnmatchedItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `UNMATCHED#{envelope}` (found by id); gsi1 `CLINIC#c#UNMATCHED` /
    `{received}#{envelope}` lists them newest first."""

    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    clinic_id = UnicodeAttribute()
    envelope_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    captured_at = UnicodeAttribute(null=True)
    adapter = JSONAttribute()
    device = JSONAttribute()
    source = JSONAttribute()
    raw_key = UnicodeAttribute()
    readings = JSONAttribute()


ITEMS = (UnmatchedItem,)


def list_partition(clinic_id: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#UNMATCHED"


def put(envelope: UnmatchedEnvelope) -> None:
    """Idempotent: the key is derived from the envelope, so a second write replaces the first."""
    store.bound()
    UnmatchedItem(
        keys.clinic_pk(envelope.clinic_id),
        keys.unmatched_sk(envelope.envelope_id),
        gsi1pk=list_partition(envelope.clinic_id),
        gsi1sk=f"{keys.sortable_time(envelope.received_at)}#{keys.segment(envelope.envelope_id)}",
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


def _from_item(row: UnmatchedItem) -> UnmatchedEnvelope:
    return UnmatchedEnvelope.model_validate(
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


def get(clinic_id: str, envelope_id: str) -> UnmatchedEnvelope | None:
    row = store.get(UnmatchedItem, keys.clinic_pk(clinic_id), keys.unmatched_sk(envelope_id))
    return None if row is None else _from_item(row)


def list_for_clinic(clinic_id: str, *, limit: int, next_token: str | None) -> Page[UnmatchedEnvelope]:
    found = store.query_page(
        UnmatchedItem, list_partition(clinic_id), index="gsi1", newest_first=True, limit=limit, next_token=next_token
    )
    return Page[UnmatchedEnvelope](items=[_from_item(row) for row in found.items], next=found.next)
