"""Programme records repository: immunizations, family-planning records and MCH services under the patient's
partition, newest first per programme.

clinical `CLINIC#c#PATIENT#p` / `IMMUNIZATION#{at}#{id}` (`by_type`: `IMMUNIZATION#{vaccine}#{dose:02}#{id}`, a
patient's doses of one vaccine), `FAMILY_PLANNING#{at}#{id}`, `MCH#{at}#{id}`. The record's fields are one
JSON attribute: each programme's model (services/programs.py) says what it holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.services.scope import Scope

PREFIXES = {"immunization": "IMMUNIZATION#", "family_planning": "FAMILY_PLANNING#", "mch": "MCH#"}


class ProgramRecordItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    by_type = store.ByType()
    record_id = UnicodeAttribute()
    program = UnicodeAttribute()  # immunization | family_planning | mch
    patient_id = UnicodeAttribute()
    fields = JSONAttribute()
    recorded_by = UnicodeAttribute()
    recorded_at = UTCDateTimeAttribute()


ITEMS = (ProgramRecordItem,)


def dose_prefix(vaccine: str) -> str:
    return f"{PREFIXES['immunization']}{keys.segment(vaccine)}#"


def new(scope: Scope, program: str, patient_id: str, record_id: str, at: datetime, fields: dict[str, Any],
        *, type_sk: str | None = None) -> ProgramRecordItem:  # fmt: skip
    return ProgramRecordItem(
        keys.patient_pk(scope.clinic_id, patient_id),
        f"{PREFIXES[program]}{keys.sortable_time(at)}#{keys.segment(record_id)}",
        type_sk=type_sk,
        record_id=record_id,
        program=program,
        patient_id=patient_id,
        fields=fields,
        recorded_by=scope.actor,
        recorded_at=at,
    )


def add(c: Any, item: ProgramRecordItem) -> None:
    c.save(item, condition=ProgramRecordItem.sk.does_not_exist())


def page(
    scope: Scope, program: str, patient_id: str, *, limit: int, next_token: str | None
) -> store.Page[ProgramRecordItem]:
    return store.query_page(ProgramRecordItem, keys.patient_pk(scope.clinic_id, patient_id), prefix=PREFIXES[program],
                            newest_first=True, limit=limit, next_token=next_token)  # fmt: skip


def doses_given(scope: Scope, patient_id: str, vaccine: str) -> list[ProgramRecordItem]:
    """The patient's recorded doses of one vaccine (a handful: every page is read)."""
    found, token = [], None
    while True:
        page_ = store.query_page(ProgramRecordItem, keys.patient_pk(scope.clinic_id, patient_id), index="by_type",
                                 prefix=dose_prefix(vaccine), limit=50, next_token=token)  # fmt: skip
        found.extend(page_.items)
        token = page_.next
        if token is None:
            return found
