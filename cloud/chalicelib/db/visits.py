"""Visits repository: a visit lives in its patient's partition with its charges and payments, so one Query
reads a whole bill; a pointer in the clinic's directory finds the patient from a visit id.

Clinical table, partition `CLINIC#c#PATIENT#p`:
- `VISIT#{visit}`: the visit (status, triage, payment type, running totals in minor units, discharge).
  `type_sk` = `VISIT#{opened}#{visit}` (LSI `by_type`: the patient's visits, newest first);
  `gsi1pk` = `CLINIC#c#VISITDAY#{clinic-local date}`, `gsi1sk` = `{opened}#{visit}` (the clinic's queue of
  one day, oldest first).
- `VISIT#{visit}#CHARGE#...`, `VISIT#{visit}#PAYMENT#...`: written by `db/charges.py` and `db/payments.py`.
- `OPEN_VISIT`: the patient's one open visit (its id), written with a does-not-exist condition when a
  visit opens and deleted when it ends (COMPLETED / CANCELLED), in the same transactions.
Directory table: `CLINIC#c` / `VISIT#{visit}` → the patient id (written once, with the visit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store

OPEN_VISIT_SK = "OPEN_VISIT"


class VisitItem(store.ClinicalItem):
    """Clinical: `CLINIC#c#PATIENT#p` / `VISIT#{visit}`."""

    class Meta:
        table_name = store.UNBOUND

    by_type = store.ByType()
    gsi1 = store.Gsi1()
    clinic_id = UnicodeAttribute()
    visit_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    status = UnicodeAttribute()
    chief_complaint = UnicodeAttribute()
    triage_category = UnicodeAttribute()
    payment_type = UnicodeAttribute()
    payment_reference = UnicodeAttribute(null=True)
    day = UnicodeAttribute()  # the clinic-local date the visit opened (its queue)
    opened_at = UTCDateTimeAttribute()
    opened_by = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()
    version = NumberAttribute()  # staff edits (status, triage, complaint): optimistic concurrency
    charges_minor = NumberAttribute()  # sum of the visit's charges (charges.add keeps it), minor units
    paid_minor = NumberAttribute()  # sum of payments less refunds, minor units
    discharge_notes = UnicodeAttribute(null=True)
    completed_at = UTCDateTimeAttribute(null=True)
    follow_up_appointment_id = UnicodeAttribute(null=True)


class OpenVisitItem(store.ClinicalItem):
    """Clinical: `CLINIC#c#PATIENT#p` / `OPEN_VISIT` → the patient's open visit."""

    class Meta:
        table_name = store.UNBOUND

    visit_id = UnicodeAttribute()


class VisitPointerItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `VISIT#{visit}` → its patient."""

    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()


ITEMS = (VisitItem, OpenVisitItem, VisitPointerItem)


@dataclass(frozen=True)
class StoredVisit:
    clinic_id: str
    visit_id: str
    patient_id: str
    status: str
    chief_complaint: str
    triage_category: str
    payment_type: str
    payment_reference: str | None
    day: str
    opened_at: datetime
    opened_by: str
    updated_at: datetime
    updated_by: str
    version: int
    charges_minor: int
    paid_minor: int
    discharge_notes: str | None
    completed_at: datetime | None
    follow_up_appointment_id: str | None


def visit_sk(visit_id: str) -> str:
    return f"VISIT#{keys.segment(visit_id)}"


def visit_prefix(visit_id: str) -> str:
    """The sort-key prefix of a visit's own records (charges, payments): `VISIT#{visit}#`."""
    return f"{visit_sk(visit_id)}#"


def day_pk(clinic_id: str, day: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#VISITDAY#{day}"


def _key(clinic_id: str, patient_id: str, visit_id: str) -> VisitItem:
    return VisitItem(keys.patient_pk(clinic_id, patient_id), visit_sk(visit_id))


def to_stored(row: VisitItem) -> StoredVisit:
    return StoredVisit(
        clinic_id=row.clinic_id, visit_id=row.visit_id, patient_id=row.patient_id, status=row.status,
        chief_complaint=row.chief_complaint, triage_category=row.triage_category, payment_type=row.payment_type,
        payment_reference=row.payment_reference, day=row.day, opened_at=row.opened_at, opened_by=row.opened_by,
        updated_at=row.updated_at, updated_by=row.updated_by, version=int(row.version),
        charges_minor=int(row.charges_minor), paid_minor=int(row.paid_minor), discharge_notes=row.discharge_notes,
        completed_at=row.completed_at, follow_up_appointment_id=row.follow_up_appointment_id,
    )  # fmt: skip


# --- reading ---------------------------------------------------------------------------------------------


def patient_of(clinic_id: str, visit_id: str) -> str | None:
    """The patient a visit id belongs to in this clinic (None: no such visit here)."""
    row = store.get(VisitPointerItem, keys.clinic_pk(clinic_id), visit_sk(visit_id))
    return None if row is None else row.patient_id


def load(clinic_id: str, patient_id: str, visit_id: str) -> StoredVisit | None:
    row = store.get(VisitItem, keys.patient_pk(clinic_id, patient_id), visit_sk(visit_id))
    return None if row is None else to_stored(row)


def open_visit_of(clinic_id: str, patient_id: str) -> str | None:
    row = store.get(OpenVisitItem, keys.patient_pk(clinic_id, patient_id), OPEN_VISIT_SK)
    return None if row is None else row.visit_id


def day_page(
    clinic_id: str, day: str, *, status: str | None, limit: int, next_token: str | None
) -> store.Page[StoredVisit]:
    """The clinic's visits opened on `day`, oldest first: one Query on gsi1 (a status is a filter)."""
    found = store.query_page(
        VisitItem, day_pk(clinic_id, day), index="gsi1", limit=limit, next_token=next_token,
        filter_condition=(VisitItem.status == status) if status else None,
    )  # fmt: skip
    return store.Page(items=[to_stored(row) for row in found.items], next=found.next)


def patient_page(clinic_id: str, patient_id: str, *, limit: int, next_token: str | None) -> store.Page[StoredVisit]:
    """A patient's visits, newest first: one Query on the `by_type` index."""
    found = store.query_page(
        VisitItem, keys.patient_pk(clinic_id, patient_id), index="by_type", prefix="VISIT#", newest_first=True,
        limit=limit, next_token=next_token,
    )  # fmt: skip
    return store.Page(items=[to_stored(row) for row in found.items], next=found.next)


# --- items for a service's transaction -------------------------------------------------------------------


def create(unit: Any, visit: StoredVisit) -> None:
    """A new visit: the item, its directory pointer and the patient's open-visit guard (fails when the
    patient already has an open visit)."""
    opened = keys.sortable_time(visit.opened_at)
    item = VisitItem(
        keys.patient_pk(visit.clinic_id, visit.patient_id), visit_sk(visit.visit_id),
        type_sk=f"VISIT#{opened}#{keys.segment(visit.visit_id)}",
        gsi1pk=day_pk(visit.clinic_id, visit.day), gsi1sk=f"{opened}#{keys.segment(visit.visit_id)}",
        clinic_id=visit.clinic_id, visit_id=visit.visit_id, patient_id=visit.patient_id, status=visit.status,
        chief_complaint=visit.chief_complaint, triage_category=visit.triage_category,
        payment_type=visit.payment_type, payment_reference=visit.payment_reference, day=visit.day,
        opened_at=visit.opened_at, opened_by=visit.opened_by, updated_at=visit.updated_at,
        updated_by=visit.updated_by, version=visit.version, charges_minor=visit.charges_minor,
        paid_minor=visit.paid_minor,
    )  # fmt: skip
    unit.save(item, condition=VisitItem.pk.does_not_exist())
    pointer = VisitPointerItem(keys.clinic_pk(visit.clinic_id), visit_sk(visit.visit_id), patient_id=visit.patient_id)
    unit.save(pointer, condition=VisitPointerItem.pk.does_not_exist())
    guard = OpenVisitItem(keys.patient_pk(visit.clinic_id, visit.patient_id), OPEN_VISIT_SK, visit_id=visit.visit_id)
    unit.save(guard, condition=OpenVisitItem.pk.does_not_exist())


def edit(unit: Any, visit: StoredVisit, changes: dict[str, Any], *, at: datetime, by: str) -> None:
    """A staff change (status and/or fields) of `visit` as loaded: fails when another change came first
    (its status or version moved). `changes` maps VisitItem attribute names to new values (None removes)."""
    actions: list[Action] = [
        VisitItem.version.set(visit.version + 1), VisitItem.updated_at.set(at), VisitItem.updated_by.set(by),
    ]  # fmt: skip
    for name, value in changes.items():
        attribute = getattr(VisitItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    condition: Condition = (VisitItem.version == visit.version) & (VisitItem.status == visit.status)
    unit.update(_key(visit.clinic_id, visit.patient_id, visit.visit_id), actions, condition=condition)


def release_open(unit: Any, clinic_id: str, patient_id: str, visit_id: str) -> None:
    """Frees the patient's open-visit guard held by this visit (the visit ended)."""
    item = OpenVisitItem(keys.patient_pk(clinic_id, patient_id), OPEN_VISIT_SK)
    unit.delete(item, condition=OpenVisitItem.visit_id == visit_id)


def add_charges(unit: Any, clinic_id: str, patient_id: str, visit_id: str, amount_minor: int) -> None:
    """Adds `amount_minor` to the visit's charges total (the visit must exist)."""
    item = _key(clinic_id, patient_id, visit_id)
    unit.update(item, [VisitItem.charges_minor.add(amount_minor)], condition=VisitItem.pk.exists())


def add_payment(unit: Any, clinic_id: str, patient_id: str, visit_id: str, amount_minor: int) -> None:
    """Adds a payment (or, negative, a refund) to the visit's paid total; a refund cannot take the total
    below zero (the condition fails: never refund more than was paid)."""
    item = _key(clinic_id, patient_id, visit_id)
    condition: Condition = VisitItem.pk.exists()
    if amount_minor < 0:
        condition = condition & (VisitItem.paid_minor >= -amount_minor)
    unit.update(item, [VisitItem.paid_minor.add(amount_minor)], condition=condition)


def check_exists(unit: Any, clinic_id: str, patient_id: str, visit_id: str) -> None:
    """A condition check that the visit exists (for changes that write only the visit's children)."""
    unit.check(_key(clinic_id, patient_id, visit_id), VisitItem.pk.exists())
