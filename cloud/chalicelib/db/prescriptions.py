"""Prescriptions repository: one item per prescription under the patient's partition, the clinic's queue per
status on `gsi1`, and a directory pointer per prescription so `/prescriptions/{prescription_id}` finds it.

- clinical `CLINIC#c#PATIENT#p` / `PRESCRIPTION#{prescribed}#{id}`; gsi1 `CLINIC#c#PRESCRIPTIONS#{status}` /
  `{prescribed}#{id}`: the pharmacy queue (`GET /prescriptions?status=PRESCRIBED`, oldest first). A status
  change moves the item to its new status' queue in the same update.
- directory `CLINIC#c` / `PRESCRIPTION#{id}`: the pointer (patient id, the prescription's sort key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store
from chalicelib.services.scope import Scope

PREFIX = "PRESCRIPTION#"


class PrescriptionItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    prescription_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    encounter_id = UnicodeAttribute()
    visit_id = UnicodeAttribute()
    medication_name = UnicodeAttribute()
    dosage = UnicodeAttribute()
    frequency = UnicodeAttribute()
    duration = UnicodeAttribute()
    route = UnicodeAttribute(null=True)
    instructions = UnicodeAttribute(null=True)
    quantity = NumberAttribute(null=True)
    allergy_override_reason = UnicodeAttribute(null=True)
    overridden_allergies = JSONAttribute(null=True)  # the allergy ids the prescriber overrode
    status = UnicodeAttribute()
    prescribed_by = UnicodeAttribute()
    prescribed_at = UTCDateTimeAttribute()
    quantity_dispensed = NumberAttribute(null=True)  # total handed over so far
    dispensing_notes = UnicodeAttribute(null=True)
    dispensed_by = UnicodeAttribute(null=True)
    dispensed_at = UTCDateTimeAttribute(null=True)
    version = NumberAttribute()


class PrescriptionRefItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `PRESCRIPTION#{id}` → where the prescription lives."""

    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()
    record_sk = UnicodeAttribute()


ITEMS = (PrescriptionItem, PrescriptionRefItem)


def queue_pk(clinic_id: str, status: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#PRESCRIPTIONS#{status}"


def new(scope: Scope, patient_id: str, prescription_id: str, at: datetime, **values: Any) -> PrescriptionItem:
    prescribed = keys.sortable_time(at)
    return PrescriptionItem(
        keys.patient_pk(scope.clinic_id, patient_id),
        f"{PREFIX}{prescribed}#{keys.segment(prescription_id)}",
        gsi1pk=queue_pk(scope.clinic_id, values["status"]),
        gsi1sk=f"{prescribed}#{keys.segment(prescription_id)}",
        prescription_id=prescription_id,
        patient_id=patient_id,
        prescribed_by=scope.actor,
        prescribed_at=at,
        version=1,
        **values,
    )


def add(c: Any, scope: Scope, item: PrescriptionItem) -> None:
    """The prescription and its pointer, in the caller's transaction."""
    c.save(item, condition=PrescriptionItem.sk.does_not_exist())
    ref = PrescriptionRefItem(keys.clinic_pk(scope.clinic_id), f"{PREFIX}{keys.segment(item.prescription_id)}",
                              patient_id=item.patient_id, record_sk=item.sk)  # fmt: skip
    c.save(ref, condition=PrescriptionRefItem.sk.does_not_exist())


def load(scope: Scope, prescription_id: str) -> PrescriptionItem | None:
    ref = store.get(PrescriptionRefItem, keys.clinic_pk(scope.clinic_id), f"{PREFIX}{keys.segment(prescription_id)}")
    if ref is None:
        return None
    return store.get(PrescriptionItem, keys.patient_pk(scope.clinic_id, ref.patient_id), ref.record_sk)


def change_status(c: Any, scope: Scope, item: PrescriptionItem, status: str, at: datetime, **values: Any) -> None:
    """Moves the prescription to `status` (and its queue), if nobody changed it since it was read (version)."""
    actions: list[Action] = [
        PrescriptionItem.status.set(status),
        PrescriptionItem.gsi1pk.set(queue_pk(scope.clinic_id, status)),
        PrescriptionItem.version.add(1),
    ]
    for name, value in values.items():
        attribute = getattr(PrescriptionItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    target = PrescriptionItem(item.pk, item.sk)
    c.update(target, actions=actions, condition=PrescriptionItem.version == item.version)


def for_patient(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> store.Page[PrescriptionItem]:
    return store.query_page(PrescriptionItem, keys.patient_pk(scope.clinic_id, patient_id), prefix=PREFIX,
                            newest_first=True, limit=limit, next_token=next_token)  # fmt: skip


def queue(scope: Scope, status: str, *, limit: int, next_token: str | None) -> store.Page[PrescriptionItem]:
    return store.query_page(PrescriptionItem, queue_pk(scope.clinic_id, status), index="gsi1", limit=limit,
                            next_token=next_token)  # fmt: skip
