"""Appointments repository (directory table, the clinic's partition).

- `CLINIC#c` / `APPT#{appointment}`: the appointment; `gsi1` = `CLINIC#c#APPTDAY#{date}` / `{time}#{appointment}`
  (a day's appointments in time order).
- `CLINIC#c` / `SLOT#{provider}#{date}#{HH:MM}`: one 15-minute block of a provider's day held by an appointment,
  written with a does-not-exist condition in the booking's transaction (no double booking); a reschedule
  deletes the blocks it leaves and claims those it takes in one transaction; a cancellation frees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store

NO_TIME = "--:--"  # a date-only appointment (a follow-up without a time) holds no slot


class AppointmentItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    appointment_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    provider_id = UnicodeAttribute()
    date = UnicodeAttribute()
    time = UnicodeAttribute(null=True)
    duration_minutes = NumberAttribute()
    reason = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    visit_id = UnicodeAttribute(null=True)
    version = NumberAttribute()
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()


class SlotItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    appointment_id = UnicodeAttribute()


ITEMS = (AppointmentItem, SlotItem)


@dataclass(frozen=True)
class StoredAppointment:
    appointment_id: str
    patient_id: str
    provider_id: str
    date: str
    time: str | None
    duration_minutes: int
    reason: str | None
    status: str
    visit_id: str | None
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime


def appointment_sk(appointment_id: str) -> str:
    return f"APPT#{keys.segment(appointment_id)}"


def day_pk(clinic_id: str, day: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#APPTDAY#{day}"


def slot_sk(provider_id: str, day: str, block: str) -> str:
    return f"SLOT#{keys.segment(provider_id)}#{day}#{block}"


def _stored(row: AppointmentItem) -> StoredAppointment:
    return StoredAppointment(
        appointment_id=row.appointment_id, patient_id=row.patient_id, provider_id=row.provider_id, date=row.date,
        time=row.time, duration_minutes=int(row.duration_minutes), reason=row.reason, status=row.status,
        visit_id=row.visit_id, version=int(row.version), created_at=row.created_at, created_by=row.created_by,
        updated_at=row.updated_at,
    )  # fmt: skip


def load(clinic_id: str, appointment_id: str) -> StoredAppointment | None:
    row = store.get(AppointmentItem, keys.clinic_pk(clinic_id), appointment_sk(appointment_id))
    return None if row is None else _stored(row)


def day_page(clinic_id: str, day: str, *, provider_id: str | None, limit: int,
             next_token: str | None) -> store.Page[StoredAppointment]:  # fmt: skip
    found = store.query_page(
        AppointmentItem, day_pk(clinic_id, day), index="gsi1", limit=limit, next_token=next_token,
        filter_condition=(AppointmentItem.provider_id == provider_id) if provider_id else None,
    )  # fmt: skip
    return store.Page(items=[_stored(row) for row in found.items], next=found.next)


def save(unit: Any, clinic_id: str, appointment: StoredAppointment, *, expected_version: int | None) -> None:
    """Writes the appointment: new (`expected_version` None) or replacing the version read."""
    item = AppointmentItem(
        keys.clinic_pk(clinic_id), appointment_sk(appointment.appointment_id),
        gsi1pk=day_pk(clinic_id, appointment.date),
        gsi1sk=f"{appointment.time or NO_TIME}#{keys.segment(appointment.appointment_id)}",
        appointment_id=appointment.appointment_id, patient_id=appointment.patient_id,
        provider_id=appointment.provider_id, date=appointment.date, time=appointment.time,
        duration_minutes=appointment.duration_minutes, reason=appointment.reason, status=appointment.status,
        visit_id=appointment.visit_id, version=appointment.version, created_at=appointment.created_at,
        created_by=appointment.created_by, updated_at=appointment.updated_at,
    )  # fmt: skip
    if expected_version is None:
        unit.save(item, condition=AppointmentItem.pk.does_not_exist())
    else:
        unit.save(item, condition=AppointmentItem.version == expected_version)


def claim_slot(unit: Any, clinic_id: str, sk: str, appointment_id: str) -> None:
    unit.save(SlotItem(keys.clinic_pk(clinic_id), sk, appointment_id=appointment_id),
              condition=SlotItem.pk.does_not_exist())  # fmt: skip


def free_slot(unit: Any, clinic_id: str, sk: str, appointment_id: str) -> None:
    unit.delete(SlotItem(keys.clinic_pk(clinic_id), sk), condition=SlotItem.appointment_id == appointment_id)
