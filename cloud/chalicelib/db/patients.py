"""Patients repository: the latest demographics per patient, one item under the clinic's partition.

Written by the ingest of `patient_update` envelopes; read by GET /patients/{patient_id}.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import PutError

from pynamodb.attributes import JSONAttribute, UnicodeAttribute

from chalicelib.db import keys, store
from chalicelib.models import PatientRecord


class PatientItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `PATIENT#{patient}`."""

    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    id_source = UnicodeAttribute(null=True)
    family_name = UnicodeAttribute(null=True)
    given_name = UnicodeAttribute(null=True)
    birth_date = UnicodeAttribute(null=True)
    sex = UnicodeAttribute(null=True)
    other_ids = JSONAttribute(null=True)
    updated_at = UnicodeAttribute()  # ISO text as the sender wrote it (HL7 times often lack an offset)
    # `{sortable updated_at}#{envelope_id}`: the upsert condition compares it, so an older update loses.
    update_order = UnicodeAttribute()
    envelope_id = UnicodeAttribute()
    event = UnicodeAttribute(null=True)  # HL7 trigger of the last update: A01, A03, A04, A08


ITEMS = (PatientItem,)


def update_order(updated_at: datetime, envelope_id: str) -> str:
    # The envelope id breaks ties between updates stamped with the same second, so whichever
    # arrives first, the same envelope wins.
    return f"{keys.sortable_time(updated_at)}#{keys.segment(envelope_id)}"


def upsert(record: PatientRecord) -> bool:
    """Stores `record` unless a newer update is already stored (S3 events can arrive out of order).

    Returns False when the stored update is newer. A redelivery of the stored envelope rewrites the
    same values (`<=`), so a retry after a crash before the ledger commit still succeeds."""
    store.bound()
    order = update_order(record.updated_at, record.envelope_id)
    item = PatientItem(
        keys.clinic_pk(record.clinic_id),
        keys.patient_sk(record.patient_id),
        clinic_id=record.clinic_id,
        patient_id=record.patient_id,
        id_source=record.id_source,
        family_name=record.family_name,
        given_name=record.given_name,
        birth_date=record.birth_date,
        sex=record.sex,
        other_ids=list(record.other_ids),
        updated_at=record.updated_at.isoformat(),
        update_order=order,
        envelope_id=record.envelope_id,
        event=record.event,
    )
    try:
        item.save(condition=PatientItem.update_order.does_not_exist() | (PatientItem.update_order <= order))
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def get(clinic_id: str, patient_id: str) -> PatientRecord | None:
    store.bound()
    try:
        row = PatientItem.get(keys.clinic_pk(clinic_id), keys.patient_sk(patient_id))
    except PatientItem.DoesNotExist:
        return None
    return PatientRecord.model_validate(
        {
            "clinic_id": row.clinic_id,
            "patient_id": row.patient_id,
            "id_source": row.id_source,
            "family_name": row.family_name,
            "given_name": row.given_name,
            "birth_date": row.birth_date,
            "sex": row.sex,
            "other_ids": row.other_ids or [],
            "updated_at": row.updated_at,
            "envelope_id": row.envelope_id,
            "event": row.event,
        }
    )
