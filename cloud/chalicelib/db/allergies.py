"""Allergies repository: one item per recorded allergy under the patient's partition.

clinical `CLINIC#c#PATIENT#p` / `ALLERGY#{id}`. Removing an allergy marks it REMOVED (who, when) rather than
deleting the item: the record of what was known when a drug was prescribed stays, and no role may delete.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.services.scope import Scope

ACTIVE, REMOVED = "ACTIVE", "REMOVED"
PREFIX = "ALLERGY#"


class AllergyItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    allergy_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    substance = UnicodeAttribute()
    reaction = UnicodeAttribute(null=True)
    severity = UnicodeAttribute()  # MILD | MODERATE | SEVERE
    notes = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # ACTIVE | REMOVED
    recorded_by = UnicodeAttribute()
    recorded_at = UTCDateTimeAttribute()
    removed_by = UnicodeAttribute(null=True)
    removed_at = UTCDateTimeAttribute(null=True)


ITEMS = (AllergyItem,)


def _sk(allergy_id: str) -> str:
    return f"{PREFIX}{keys.segment(allergy_id)}"


def new(scope: Scope, patient_id: str, allergy_id: str, at: datetime, **values: Any) -> AllergyItem:
    return AllergyItem(
        keys.patient_pk(scope.clinic_id, patient_id), _sk(allergy_id), allergy_id=allergy_id, patient_id=patient_id,
        status=ACTIVE, recorded_by=scope.actor, recorded_at=at, **values,
    )  # fmt: skip


def add(c: Any, item: AllergyItem) -> None:
    c.save(item, condition=AllergyItem.sk.does_not_exist())


def remove(c: Any, scope: Scope, patient_id: str, allergy_id: str, at: datetime) -> None:
    """Marks an ACTIVE allergy REMOVED (the transaction fails with ConditionFailed when there is none)."""
    item = AllergyItem(keys.patient_pk(scope.clinic_id, patient_id), _sk(allergy_id))
    c.update(item, actions=[AllergyItem.status.set(REMOVED), AllergyItem.removed_by.set(scope.actor),
                            AllergyItem.removed_at.set(at)],
             condition=AllergyItem.sk.exists() & (AllergyItem.status == ACTIVE))  # fmt: skip


def active(
    scope: Scope, patient_id: str, *, limit: int = 200, next_token: str | None = None
) -> store.Page[AllergyItem]:
    """One page of the patient's ACTIVE allergies (one Query; removed ones filtered out)."""
    return store.query_page(AllergyItem, keys.patient_pk(scope.clinic_id, patient_id), prefix=PREFIX, limit=limit,
                            next_token=next_token, filter_condition=AllergyItem.status == ACTIVE)  # fmt: skip


def all_active(scope: Scope, patient_id: str) -> list[AllergyItem]:
    """Every ACTIVE allergy (the prescribing check must see all of them, so it follows the pages)."""
    found, token = [], None
    while True:
        page = active(scope, patient_id, next_token=token)
        found.extend(page.items)
        token = page.next
        if token is None:
            return found
