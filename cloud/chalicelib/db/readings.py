"""Device readings repository: one item per reading under the patient's partition, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.models import Page, StoredReading


class ReadingItem(store.ClinicalItem):
    """Clinical table: `CLINIC#c#PATIENT#p` / `READING#{captured}#{envelope}#{rank}`; `by_type` holds
    `{kind}#{captured}#{envelope}#{rank}` for newest-first queries of one kind."""

    class Meta:
        table_name = store.UNBOUND

    by_type = store.ByType()
    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    envelope_id = UnicodeAttribute()
    index = NumberAttribute()
    kind = UnicodeAttribute()
    captured_at = UnicodeAttribute(null=True)  # ISO text as the device wrote it (may lack an offset)
    received_at = UTCDateTimeAttribute()
    agent_id = UnicodeAttribute()
    adapter = JSONAttribute()
    device = JSONAttribute()
    raw_key = UnicodeAttribute()
    reading = JSONAttribute()


ITEMS = (ReadingItem,)


def _to_item(reading: StoredReading) -> ReadingItem:
    captured = keys.sortable_time(reading.captured_at or reading.received_at)
    return ReadingItem(
        keys.patient_pk(reading.clinic_id, reading.patient_id),
        keys.reading_sk(captured, reading.envelope_id, reading.index),
        type_sk=keys.reading_kind_sk(reading.kind, captured, reading.envelope_id, reading.index),
        clinic_id=reading.clinic_id,
        patient_id=reading.patient_id,
        envelope_id=reading.envelope_id,
        index=reading.index,
        kind=reading.kind,
        captured_at=reading.captured_at.isoformat() if reading.captured_at else None,
        received_at=reading.received_at,
        agent_id=reading.agent_id,
        adapter=reading.adapter,
        device=reading.device,
        raw_key=reading.raw_key,
        reading=reading.reading,
    )


def _from_item(item: ReadingItem) -> StoredReading:
    return StoredReading.model_validate(
        {
            "clinic_id": item.clinic_id,
            "patient_id": item.patient_id,
            "envelope_id": item.envelope_id,
            "index": int(item.index),
            "kind": item.kind,
            "captured_at": item.captured_at,  # ISO text; pydantic parses it
            "received_at": item.received_at,
            "agent_id": item.agent_id,
            "adapter": item.adapter or {},
            "device": item.device or {},
            "raw_key": item.raw_key,
            "reading": item.reading or {},
        }
    )


def put_all(readings: Iterable[StoredReading]) -> int:
    """Writes the readings. Keys are derived from the envelope, so writing them twice leaves one copy."""
    store.bound()
    count = 0
    with ReadingItem.batch_write() as batch:
        for reading in readings:
            batch.save(_to_item(reading))
            count += 1
    return count


def add(unit: Any, reading: StoredReading) -> None:
    """Adds one reading's write to a service's transaction."""
    unit.save(_to_item(reading))


def remove(unit: Any, reading: StoredReading) -> None:
    item = _to_item(reading)
    unit.delete(ReadingItem(item.pk, item.sk))


def delete_all(readings: Iterable[StoredReading]) -> None:
    """Deletes the readings in batches (deleting an absent item is not an error: idempotent)."""
    store.bound()
    with ReadingItem.batch_write() as batch:
        for reading in readings:
            item = _to_item(reading)
            batch.delete(ReadingItem(item.pk, item.sk))


def list_for_patient(
    clinic_id: str, patient_id: str, *, kind: str | None, limit: int, next_token: str | None
) -> Page[StoredReading]:
    pk = keys.patient_pk(clinic_id, patient_id)
    if kind is None:
        found = store.query_page(
            ReadingItem, pk, prefix="READING#", newest_first=True, limit=limit, next_token=next_token
        )
    else:
        found = store.query_page(
            ReadingItem, pk, index="by_type", prefix=keys.segment(kind) + "#", newest_first=True,
            limit=limit, next_token=next_token,
        )  # fmt: skip
    return Page[StoredReading](items=[_from_item(row) for row in found.items], next=found.next)
