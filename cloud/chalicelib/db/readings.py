"""Device readings repository: one item per reading under the patient's partition, newest first."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.db import keys, pagination
from chalicelib.db.tables import ReadingItem, bound
from chalicelib.models import Page, StoredReading


def _to_item(reading: StoredReading) -> ReadingItem:
    captured = keys.sortable_time(reading.captured_at or reading.received_at)
    return ReadingItem(
        keys.patient_pk(reading.clinic_id, reading.patient_id),
        keys.reading_sk(captured, reading.envelope_id, reading.index),
        kind_sk=keys.reading_kind_sk(reading.kind, captured, reading.envelope_id, reading.index),
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
    bound()
    count = 0
    with ReadingItem.batch_write() as batch:
        for reading in readings:
            batch.save(_to_item(reading))
            count += 1
    return count


def list_for_patient(
    clinic_id: str, patient_id: str, *, kind: str | None, limit: int, next_token: str | None
) -> Page[StoredReading]:
    bound()
    pk = keys.patient_pk(clinic_id, patient_id)
    if kind is None:
        start = pagination.decode(next_token, pk, {"pk", "sk"})
        rows = ReadingItem.query(
            pk,
            ReadingItem.sk.startswith("READING#"),
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=start,
        )
    else:
        start = pagination.decode(next_token, pk, {"pk", "sk", "kind_sk"})
        rows = ReadingItem.by_kind.query(
            pk,
            ReadingItem.kind_sk.startswith(keys.segment(kind) + "#"),
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=start,
        )
    items = [_from_item(row) for row in rows]
    return Page[StoredReading](items=items, next=pagination.encode(rows.last_evaluated_key))
