"""Unmatched envelopes repository: envelopes without a patient id, per clinic, newest first; their assignment
to a patient by staff (`state`), and hint items that offer them to a patient later.

Hints: `CLINIC#c` / `UNMATCHED_PID#{token}#{envelope}` for each patient-like token the capture carries (a
patient id the device sent, or path/file-name tokens of its source), so that `GET
/patients/{patient_id}/unmatched-candidates` is a Query per token of the patient (id, OP number, national
id), never a Scan."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    # Staff assignment: absent while unmatched; "assigning" while a large envelope's readings are being
    # copied in batches; "assigned" once they are under `patient_id`. The listing index keys are removed
    # while assigned and restored by an unassign.
    state = UnicodeAttribute(null=True)
    patient_id = UnicodeAttribute(null=True)
    assigned_at = UTCDateTimeAttribute(null=True)
    assigned_by = UnicodeAttribute(null=True)


class UnmatchedHintItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `UNMATCHED_PID#{token}#{envelope}`."""

    class Meta:
        table_name = store.UNBOUND

    envelope_id = UnicodeAttribute()
    source = UnicodeAttribute()  # "device": the patient id the device sent; "path": a source path token


ITEMS = (UnmatchedItem, UnmatchedHintItem)


@dataclass(frozen=True)
class Assignment:
    state: str | None
    patient_id: str | None
    assigned_at: datetime | None


def hint_prefix(clinic_token: str) -> str:
    return f"UNMATCHED_PID#{keys.segment(clinic_token.upper())}#"


def put_hints(clinic_id: str, envelope_id: str, tokens: Iterable[str], source: str) -> None:
    store.bound()
    with UnmatchedHintItem.batch_write() as batch:
        for token in dict.fromkeys(tokens):
            batch.save(UnmatchedHintItem(keys.clinic_pk(clinic_id), hint_prefix(token) + keys.segment(envelope_id),
                                         envelope_id=envelope_id, source=source))  # fmt: skip


def hinted(clinic_id: str, token: str, *, limit: int = 50) -> list[str]:
    """Envelope ids hinted by `token` (first `limit`)."""
    found = store.query_page(UnmatchedHintItem, keys.clinic_pk(clinic_id), prefix=hint_prefix(token), limit=limit,
                             next_token=None)  # fmt: skip
    return [row.envelope_id for row in found.items]


def get_many(clinic_id: str, envelope_ids: Iterable[str]) -> list[tuple[UnmatchedEnvelope, Assignment]]:
    store.bound()
    wanted = [(keys.clinic_pk(clinic_id), keys.unmatched_sk(e)) for e in dict.fromkeys(envelope_ids)]
    return [(_from_item(row), _assignment(row)) for row in UnmatchedItem.batch_get(wanted)]


def get_with_state(clinic_id: str, envelope_id: str) -> tuple[UnmatchedEnvelope, Assignment] | None:
    row = store.get(UnmatchedItem, keys.clinic_pk(clinic_id), keys.unmatched_sk(envelope_id))
    return None if row is None else (_from_item(row), _assignment(row))


def _assignment(row: UnmatchedItem) -> Assignment:
    return Assignment(state=row.state, patient_id=row.patient_id, assigned_at=row.assigned_at)


def mark(unit: Any, clinic_id: str, envelope_id: str, *, state: str, patient_id: str, at: datetime, actor: str,
         expect: str | None) -> None:  # fmt: skip
    """Moves the envelope to `state` for `patient_id` (hidden from the listing), if its state is `expect`."""
    item = UnmatchedItem(keys.clinic_pk(clinic_id), keys.unmatched_sk(envelope_id))
    condition = UnmatchedItem.pk.exists() & (
        UnmatchedItem.state.does_not_exist() if expect is None
        else (UnmatchedItem.state == expect) & (UnmatchedItem.patient_id == patient_id)
    )  # fmt: skip
    actions = [UnmatchedItem.state.set(state), UnmatchedItem.patient_id.set(patient_id),
               UnmatchedItem.assigned_at.set(at), UnmatchedItem.assigned_by.set(actor),
               UnmatchedItem.gsi1pk.remove(), UnmatchedItem.gsi1sk.remove()]  # fmt: skip
    unit.update(item, actions, condition=condition)


def finish(clinic_id: str, envelope_id: str, patient_id: str) -> None:
    """`assigning` → `assigned` (the batches are written)."""
    store.bound()
    item = UnmatchedItem(keys.clinic_pk(clinic_id), keys.unmatched_sk(envelope_id))
    item.update([UnmatchedItem.state.set("assigned")],
                condition=(UnmatchedItem.state == "assigning") & (UnmatchedItem.patient_id == patient_id))  # fmt: skip


def restore(unit: Any, envelope: UnmatchedEnvelope, patient_id: str) -> None:
    """Back to unmatched (listed again), if it is assigned to `patient_id`."""
    item = UnmatchedItem(keys.clinic_pk(envelope.clinic_id), keys.unmatched_sk(envelope.envelope_id))
    actions = [UnmatchedItem.state.remove(), UnmatchedItem.patient_id.remove(), UnmatchedItem.assigned_at.remove(),
               UnmatchedItem.assigned_by.remove(), UnmatchedItem.gsi1pk.set(list_partition(envelope.clinic_id)),
               UnmatchedItem.gsi1sk.set(_listing_sk(envelope.received_at, envelope.envelope_id))]  # fmt: skip
    unit.update(item, actions,
                condition=(UnmatchedItem.state == "assigned") & (UnmatchedItem.patient_id == patient_id))  # fmt: skip


def _listing_sk(received_at: datetime, envelope_id: str) -> str:
    return f"{keys.sortable_time(received_at)}#{keys.segment(envelope_id)}"


def list_partition(clinic_id: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#UNMATCHED"


def put(envelope: UnmatchedEnvelope) -> None:
    """Idempotent: the key is derived from the envelope, so a second write replaces the first."""
    store.bound()
    UnmatchedItem(
        keys.clinic_pk(envelope.clinic_id),
        keys.unmatched_sk(envelope.envelope_id),
        gsi1pk=list_partition(envelope.clinic_id),
        gsi1sk=_listing_sk(envelope.received_at, envelope.envelope_id),
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


def of_item(clinic_id: str, sha256: str) -> list[str]:
    """The envelope ids still unmatched of one received item (`{sha256}` or `{sha256}-{part}`): one Query."""
    found = store.query_page(
        UnmatchedItem, keys.clinic_pk(clinic_id), prefix=keys.unmatched_sk(sha256), limit=100, next_token=None
    )
    return [row.envelope_id for row in found.items if row.envelope_id.split("-")[0] == sha256 and not row.state]
