"""Patients repository: one record per patient under the clinic's partition, plus the items that keep
registration consistent (the uniqueness lookups; OP numbers come from `db/sequences.py`).

Directory items, all under `CLINIC#c`:
- `PATIENT#{id}`: the patient. Registered (staff-entered) attributes and the last HL7 ADT values live
  side by side in separate attributes (`family_name`, `given_name`, `birth_date`, `sex`, ... are the ADT
  ones); `services/patients.py` merges them for reading. Written by registration/PATCH (in a
  transaction with their audit entry), by the ADT ingest (`upsert_adt`, newest update wins) and by
  readings under an unregistered id (`ensure`, a minimal record).
- `COUNTER#OP`: the clinic's last issued OP sequence number (`db/sequences.py`).
- `OP#{op}`, `NID#{national id}`, `IDENTITY#{name}#{dob}#{phone}`: lookups naming a patient id, written
  with a does-not-exist condition in the registering transaction, so two registrations can never
  share an OP number, and two concurrent duplicates cannot both pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store
from chalicelib.models import PatientRecord, StoredPatient


class PatientItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `PATIENT#{patient}`."""

    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    id_source = UnicodeAttribute(null=True)  # who named this id first: "registration", "hl7_pid", a device
    first_seen_at = UnicodeAttribute(null=True)
    # The last HL7 ADT values (newest update wins).
    family_name = UnicodeAttribute(null=True)
    given_name = UnicodeAttribute(null=True)
    birth_date = UnicodeAttribute(null=True)
    sex = UnicodeAttribute(null=True)
    other_ids = JSONAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)  # ISO text as the sender wrote it (HL7 times often lack an offset)
    # `{sortable updated_at}#{envelope_id}`: the upsert condition compares it, so an older update loses.
    update_order = UnicodeAttribute(null=True)
    envelope_id = UnicodeAttribute(null=True)
    event = UnicodeAttribute(null=True)  # HL7 trigger of the last update: A01, A03, A04, A08
    # Registration and staff edits.
    op_number = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    registered_sex = UnicodeAttribute(null=True)
    date_of_birth = UnicodeAttribute(null=True)
    age = NumberAttribute(null=True)  # when only an age was given: the age on `registered_at`
    phone = UnicodeAttribute(null=True)
    national_id = UnicodeAttribute(null=True)
    insurance_type = UnicodeAttribute(null=True)
    registration_type = UnicodeAttribute(null=True)
    registered_at = UnicodeAttribute(null=True)
    registered_by = UnicodeAttribute(null=True)
    edited_at = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)  # staff writes: optimistic concurrency
    scan_frequency = NumberAttribute(null=True)  # days between remote scans; None: the default (14)


class LookupItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `OP#{op}` | `NID#{nid}` | `IDENTITY#{name}#{dob}#{phone}` → a patient id."""

    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()


ITEMS = (PatientItem, LookupItem)

REGISTERED_FIELDS = (
    "op_number", "first_name", "last_name", "registered_sex", "date_of_birth", "age", "phone", "national_id",
    "insurance_type", "registration_type", "registered_at", "registered_by", "edited_at", "version", "scan_frequency",
)  # fmt: skip


def op_lookup_sk(op_number: str) -> str:
    return f"OP#{keys.segment(op_number.upper())}"


def nid_lookup_sk(national_id: str) -> str:
    return f"NID#{keys.segment(national_id)}"


def identity_lookup_sk(name: str, date_of_birth: str, phone: str) -> str:
    return f"IDENTITY#{keys.segment(name)}#{keys.segment(date_of_birth)}#{keys.segment(phone)}"


# --- reading ---------------------------------------------------------------------------------------------


def _stored(row: PatientItem) -> StoredPatient:
    values: dict[str, Any] = {name: getattr(row, name) for name in StoredPatient.model_fields}
    values["other_ids"] = row.other_ids or []
    return StoredPatient.model_validate(values)


def load(clinic_id: str, patient_id: str) -> StoredPatient | None:
    row = store.get(PatientItem, keys.clinic_pk(clinic_id), keys.patient_sk(patient_id))
    return None if row is None else _stored(row)


def load_many(clinic_id: str, patient_ids: Iterable[str]) -> dict[str, StoredPatient]:
    """One BatchGetItem for a page of ids (at most 100)."""
    store.bound()
    wanted = list(dict.fromkeys(patient_ids))
    found = PatientItem.batch_get([(keys.clinic_pk(clinic_id), keys.patient_sk(pid)) for pid in wanted])
    return {row.patient_id: _stored(row) for row in found}


def get(clinic_id: str, patient_id: str) -> PatientRecord | None:
    """The last ADT demographics of a patient, None when no ADT update was stored for it."""
    row = store.get(PatientItem, keys.clinic_pk(clinic_id), keys.patient_sk(patient_id))
    if row is None or row.updated_at is None:
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


def lookup(clinic_id: str, sk: str) -> str | None:
    """The patient id a lookup item (`OP#...`, `NID#...`, `IDENTITY#...`) names, if any."""
    row = store.get(LookupItem, keys.clinic_pk(clinic_id), sk)
    return None if row is None else row.patient_id


# --- items for a service's transaction -------------------------------------------------------------------


def lookup_put(unit: Any, clinic_id: str, sk: str, patient_id: str) -> None:
    item = LookupItem(keys.clinic_pk(clinic_id), sk, patient_id=patient_id)
    unit.save(item, condition=LookupItem.pk.does_not_exist())


def lookup_delete(unit: Any, clinic_id: str, sk: str, patient_id: str) -> None:
    item = LookupItem(keys.clinic_pk(clinic_id), sk)
    unit.delete(item, condition=LookupItem.patient_id == patient_id)


def patient_create(unit: Any, clinic_id: str, patient_id: str, values: dict[str, Any]) -> None:
    """A registration: creates the record, or completes the minimal/ADT record already under this id."""
    item = PatientItem(keys.clinic_pk(clinic_id), keys.patient_sk(patient_id))
    actions: list[Action] = [PatientItem.clinic_id.set(clinic_id), PatientItem.patient_id.set(patient_id)]
    actions += _set_all(values)
    unit.update(item, actions, condition=PatientItem.op_number.does_not_exist())


def patient_edit(unit: Any, clinic_id: str, patient_id: str, values: dict[str, Any], version: int) -> None:
    """A staff edit of registered fields; fails when another edit came first (`version`)."""
    item = PatientItem(keys.clinic_pk(clinic_id), keys.patient_sk(patient_id))
    condition = PatientItem.version == version if version else PatientItem.version.does_not_exist()
    condition = condition & PatientItem.pk.exists()
    unit.update(item, _set_all({**values, "version": version + 1}), condition=condition)


def check_version(unit: Any, clinic_id: str, patient_id: str, version: int) -> None:
    """The record's staff version is still `version` (nothing a staff edit sets changed since it was read)."""
    item = PatientItem(keys.clinic_pk(clinic_id), keys.patient_sk(patient_id))
    condition = PatientItem.version == version if version else PatientItem.version.does_not_exist()
    unit.check(item, condition)


def _set_all(values: dict[str, Any]) -> list[Action]:
    actions: list[Action] = []
    for name, value in values.items():
        attribute = getattr(PatientItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions


# --- ingest writes ---------------------------------------------------------------------------------------


def update_order(updated_at: datetime, envelope_id: str) -> str:
    # The envelope id breaks ties between updates stamped with the same second, so whichever
    # arrives first, the same envelope wins.
    return f"{keys.sortable_time(updated_at)}#{keys.segment(envelope_id)}"


def upsert_adt(record: PatientRecord) -> bool:
    """Stores the ADT values of `record` unless a newer update is already stored (S3 events can arrive
    out of order). Registered fields are left alone: the merge happens on reading.

    Returns False when the stored update is newer. A redelivery of the stored envelope rewrites the
    same values (`<=`), so a retry after a crash before the ledger commit still succeeds."""
    store.bound()
    order = update_order(record.updated_at, record.envelope_id)
    item = PatientItem(keys.clinic_pk(record.clinic_id), keys.patient_sk(record.patient_id))
    adt = {
        "family_name": record.family_name,
        "given_name": record.given_name,
        "birth_date": record.birth_date,
        "sex": record.sex,
        "other_ids": list(record.other_ids),
        "updated_at": record.updated_at.isoformat(),
        "update_order": order,
        "envelope_id": record.envelope_id,
        "event": record.event,
    }
    actions: list[Action] = [
        PatientItem.clinic_id.set(record.clinic_id),
        PatientItem.patient_id.set(record.patient_id),
        PatientItem.first_seen_at.set(PatientItem.first_seen_at | record.updated_at.isoformat()),
        *_set_all(adt),
    ]
    if record.id_source:
        actions.append(PatientItem.id_source.set(PatientItem.id_source | record.id_source))
    try:
        item.update(actions, condition=PatientItem.update_order.does_not_exist() | (PatientItem.update_order <= order))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


upsert = upsert_adt  # the name the ingest used before registration existed


def ensure(clinic_id: str, patient_id: str, *, id_source: str | None, seen_at: datetime) -> None:
    """A minimal record for an id first seen on device readings (id, id_source, first seen), so that
    readings, ADT updates and a later registration all attach to one record. Idempotent."""
    store.bound()
    item = PatientItem(keys.clinic_pk(clinic_id), keys.patient_sk(patient_id))
    actions: list[Action] = [
        PatientItem.clinic_id.set(clinic_id),
        PatientItem.patient_id.set(patient_id),
        PatientItem.first_seen_at.set(PatientItem.first_seen_at | seen_at.isoformat()),
    ]
    if id_source:
        actions.append(PatientItem.id_source.set(PatientItem.id_source | id_source))
    item.update(actions)
