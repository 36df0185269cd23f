"""Diagnoses repository: one item per diagnosis under the patient's partition, newest first.

clinical `CLINIC#c#PATIENT#p` / `DIAGNOSIS#{created}#{id}` (`by_type`: `DIAGNOSIS#{code}#{created}#{id}`, a
patient's diagnoses of one code).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.services.scope import Scope


class DiagnosisItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    by_type = store.ByType()
    diagnosis_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    encounter_id = UnicodeAttribute()
    visit_id = UnicodeAttribute(null=True)
    diagnosis_code = UnicodeAttribute()
    diagnosis_name = UnicodeAttribute()
    billable = BooleanAttribute()
    status = UnicodeAttribute()  # ACTIVE
    notes = UnicodeAttribute(null=True)
    diagnosed_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


ITEMS = (DiagnosisItem,)
PREFIX = "DIAGNOSIS#"


def new(scope: Scope, patient_id: str, diagnosis_id: str, at: datetime, **values: Any) -> DiagnosisItem:
    created = keys.sortable_time(at)
    return DiagnosisItem(
        keys.patient_pk(scope.clinic_id, patient_id),
        f"{PREFIX}{created}#{keys.segment(diagnosis_id)}",
        type_sk=f"{PREFIX}{keys.segment(values['diagnosis_code'])}#{created}#{keys.segment(diagnosis_id)}",
        diagnosis_id=diagnosis_id,
        patient_id=patient_id,
        diagnosed_by=scope.actor,
        created_at=at,
        **values,
    )


def add(c: Any, item: DiagnosisItem) -> None:
    c.save(item, condition=DiagnosisItem.sk.does_not_exist())


def page(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> store.Page[DiagnosisItem]:
    return store.query_page(DiagnosisItem, keys.patient_pk(scope.clinic_id, patient_id), prefix=PREFIX,
                            newest_first=True, limit=limit, next_token=next_token)  # fmt: skip
