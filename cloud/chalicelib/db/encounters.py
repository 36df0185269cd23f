"""Encounters repository: TRIAGE and CONSULTATION encounters under the patient's partition, newest first, and a
directory pointer per encounter so `GET /patient-encounters/{encounter_id}` finds it with two GetItems.

- clinical `CLINIC#c#PATIENT#p` / `ENCOUNTER#{created}#{id}`: the encounter
  (`by_type`: `ENCOUNTER#{type}#{created}#{id}`).
- directory `CLINIC#c` / `ENCOUNTER#{id}`: the pointer (patient id, the encounter's sort key), written in the
  same transaction with a does-not-exist condition.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.services.scope import Scope


class EncounterItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    by_type = store.ByType()
    encounter_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    visit_id = UnicodeAttribute()
    encounter_type = UnicodeAttribute()  # TRIAGE | CONSULTATION
    vital_signs = JSONAttribute(null=True)
    notes = UnicodeAttribute(null=True)
    findings = UnicodeAttribute(null=True)
    recommendations = UnicodeAttribute(null=True)
    provider = UnicodeAttribute()  # the actor: "user:<id>"
    created_at = UTCDateTimeAttribute()


class EncounterRefItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `ENCOUNTER#{id}` → where the encounter lives."""

    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()
    record_sk = UnicodeAttribute()


ITEMS = (EncounterItem, EncounterRefItem)
PREFIX = "ENCOUNTER#"


def new(scope: Scope, patient_id: str, encounter_id: str, at: datetime, **values: Any) -> EncounterItem:
    created = keys.sortable_time(at)
    encounter_type = str(values["encounter_type"])
    return EncounterItem(
        keys.patient_pk(scope.clinic_id, patient_id),
        f"{PREFIX}{created}#{keys.segment(encounter_id)}",
        type_sk=f"{PREFIX}{encounter_type}#{created}#{keys.segment(encounter_id)}",
        encounter_id=encounter_id,
        patient_id=patient_id,
        provider=scope.actor,
        created_at=at,
        **values,
    )


def add(c: Any, scope: Scope, item: EncounterItem) -> None:
    """The encounter and its pointer, in the caller's transaction."""
    c.save(item, condition=EncounterItem.sk.does_not_exist())
    ref = EncounterRefItem(keys.clinic_pk(scope.clinic_id), f"{PREFIX}{keys.segment(item.encounter_id)}",
                           patient_id=item.patient_id, record_sk=item.sk)  # fmt: skip
    c.save(ref, condition=EncounterRefItem.sk.does_not_exist())


def load(scope: Scope, encounter_id: str) -> EncounterItem | None:
    ref = store.get(EncounterRefItem, keys.clinic_pk(scope.clinic_id), f"{PREFIX}{keys.segment(encounter_id)}")
    if ref is None:
        return None
    return store.get(EncounterItem, keys.patient_pk(scope.clinic_id, ref.patient_id), ref.record_sk)


def page(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> store.Page[EncounterItem]:
    return store.query_page(EncounterItem, keys.patient_pk(scope.clinic_id, patient_id), prefix=PREFIX,
                            newest_first=True, limit=limit, next_token=next_token)  # fmt: skip
