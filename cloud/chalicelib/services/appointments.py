"""Appointments: book, reschedule, cancel, list a day's (optionally one provider's). A provider's time is
held in 15-minute blocks (slot items written with a does-not-exist condition in the booking's transaction),
so two bookings that overlap cannot both succeed: 409 `slot_taken`. See docs/journey.md."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from chalicelib.db import appointments as repo
from chalicelib.db import patients as patients_repo
from chalicelib.db import store
from chalicelib.db import users as users_repo
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.models import Page
from chalicelib.services import audit, clinics
from chalicelib.services.scope import Scope

BLOCK_MINUTES = 15
DEFAULT_DURATION = 30


class AppointmentStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"


class Appointment(BaseModel):
    id: str
    patient_id: str
    provider_id: str
    date: date
    time: str | None = None
    duration_minutes: int
    reason: str | None = None
    status: AppointmentStatus
    visit_id: str | None = None  # the visit whose discharge booked it (a follow-up)
    version: int
    created_at: datetime


def view(stored: repo.StoredAppointment) -> Appointment:
    return Appointment(
        id=stored.appointment_id, patient_id=stored.patient_id, provider_id=stored.provider_id,
        date=date.fromisoformat(stored.date), time=stored.time, duration_minutes=stored.duration_minutes,
        reason=stored.reason, status=AppointmentStatus(stored.status), visit_id=stored.visit_id,
        version=stored.version, created_at=stored.created_at,
    )  # fmt: skip


def blocks(provider_id: str, day: str, time: str | None, duration: int) -> set[str]:
    """The slot keys an appointment holds: one per 15-minute block it covers (none without a time)."""
    if time is None:
        return set()
    start = datetime.strptime(time, "%H:%M")
    return {repo.slot_sk(provider_id, day, (start + timedelta(minutes=m)).strftime("%H:%M"))
            for m in range(0, duration, BLOCK_MINUTES)}  # fmt: skip


def check_time(time: str | None, duration: int, field: str = "time") -> None:
    if time is not None:
        parsed = datetime.strptime(time, "%H:%M")
        if parsed.minute % BLOCK_MINUTES:
            raise InvalidInput("time must be on a quarter hour (e.g. 09:15)", code="invalid_time", field=field)
        if parsed + timedelta(minutes=duration) > datetime.strptime("23:59", "%H:%M") + timedelta(minutes=1):
            raise InvalidInput("the appointment must end by midnight", code="invalid_time", field=field)


def _check_people(scope: Scope, patient_id: str, provider_id: str, prefix: str = "") -> None:
    patient = patients_repo.load(scope.clinic_id, scope.patient(patient_id))
    if patient is None or patient.op_number is None:
        raise NotFound("no registered patient with this id in your clinic", code="not_found",
                       field=f"{prefix}patient_id")  # fmt: skip
    member = users_repo.member(scope.clinic_id, provider_id)
    if member is None or not member.active:
        raise NotFound("no active staff member with this id in your clinic", code="not_found",
                       field=f"{prefix}provider_id")  # fmt: skip


def prepare(
    scope: Scope,
    *,
    patient_id: str,
    provider_id: str,
    day: date,
    time: str | None,
    duration: int,
    reason: str | None,
    visit_id: str | None,
    at: datetime,
    prefix: str = "",
) -> repo.StoredAppointment:
    """A checked, not yet written appointment (`prefix` names the body's fields, e.g. `follow_up.`)."""
    check_time(time, duration, field=f"{prefix}time")
    _check_people(scope, patient_id, provider_id, prefix)
    return repo.StoredAppointment(
        appointment_id=uuid.uuid4().hex, patient_id=patient_id, provider_id=provider_id, date=day.isoformat(),
        time=time, duration_minutes=duration, reason=reason, status=AppointmentStatus.SCHEDULED.value,
        visit_id=visit_id, version=1, created_at=at, created_by=scope.actor, updated_at=at,
    )  # fmt: skip


def write_new(c: audit.Change, scope: Scope, appointment: repo.StoredAppointment) -> None:
    """Adds a new appointment and its slots to the change `c` (a visit's discharge uses this too)."""
    repo.save(c, scope.clinic_id, appointment, expected_version=None)
    for sk in sorted(blocks(appointment.provider_id, appointment.date, appointment.time, appointment.duration_minutes)):
        repo.claim_slot(c, scope.clinic_id, sk, appointment.appointment_id)
    c.emit("appointment.booked", appointment_id=appointment.appointment_id)


def _slot_taken() -> Conflict:
    return Conflict("the provider is already booked at that time", code="slot_taken", field="time")


def book(scope: Scope, *, patient_id: str, provider_id: str, day: date, time: str, duration: int = DEFAULT_DURATION,
         reason: str | None = None, at: datetime | None = None) -> Appointment:  # fmt: skip
    at = at or datetime.now(UTC)
    appointment = prepare(scope, patient_id=patient_id, provider_id=provider_id, day=day, time=time,
                          duration=duration, reason=reason, visit_id=None, at=at)  # fmt: skip
    try:
        with audit.change(scope, "appointment.booked", resource="appointment",
                          resource_id=appointment.appointment_id, at=at) as c:  # fmt: skip
            write_new(c, scope, appointment)
    except store.ConditionFailed:
        raise _slot_taken() from None
    return view(appointment)


def _load(scope: Scope, appointment_id: str) -> repo.StoredAppointment:
    stored = repo.load(scope.clinic_id, appointment_id)
    if stored is None or (scope.patient_id is not None and stored.patient_id != scope.patient_id):
        raise NotFound("no appointment with this id in your clinic", code="not_found", field="appointment_id")
    return stored


def _replace(scope: Scope, before: repo.StoredAppointment, after: repo.StoredAppointment, action: str,
             at: datetime) -> Appointment:  # fmt: skip
    old = blocks(before.provider_id, before.date, before.time, before.duration_minutes)
    new = set() if after.status == AppointmentStatus.CANCELLED.value else blocks(
        after.provider_id, after.date, after.time, after.duration_minutes)  # fmt: skip
    try:
        with audit.change(scope, action, resource="appointment", resource_id=before.appointment_id, at=at) as c:
            repo.save(c, scope.clinic_id, after, expected_version=before.version)
            for sk in sorted(old - new):
                repo.free_slot(c, scope.clinic_id, sk, before.appointment_id)
            for sk in sorted(new - old):
                repo.claim_slot(c, scope.clinic_id, sk, before.appointment_id)
            c.emit(action, appointment_id=before.appointment_id)
    except store.ConditionFailed:
        fresh = repo.load(scope.clinic_id, before.appointment_id)
        if fresh is not None and fresh.version != before.version:
            raise Conflict("the appointment changed meanwhile; reload it", code="appointment_changed") from None
        raise _slot_taken() from None
    return view(after)


def reschedule(
    scope: Scope, appointment_id: str, changes: dict[str, Any], *, at: datetime | None = None
) -> Appointment:
    """Moves an appointment (date, time, duration, provider, reason): its slots move in the same transaction."""
    at = at or datetime.now(UTC)
    before = _load(scope, appointment_id)
    if before.status != AppointmentStatus.SCHEDULED.value:
        raise Conflict("a cancelled appointment cannot be rescheduled", code="appointment_cancelled", field="status")
    day = changes.get("date")
    after = repo.StoredAppointment(**{
        **before.__dict__, "date": day.isoformat() if day else before.date, "time": changes.get("time", before.time),
        "duration_minutes": changes.get("duration_minutes") or before.duration_minutes,
        "provider_id": changes.get("provider_id") or before.provider_id,
        "reason": changes.get("reason", before.reason), "version": before.version + 1, "updated_at": at,
    })  # fmt: skip
    check_time(after.time, after.duration_minutes)
    if after.provider_id != before.provider_id:
        _check_people(scope, before.patient_id, after.provider_id)
    return _replace(scope, before, after, "appointment.rescheduled", at)


def cancel(scope: Scope, appointment_id: str, *, at: datetime | None = None) -> Appointment:
    at = at or datetime.now(UTC)
    before = _load(scope, appointment_id)
    if before.status == AppointmentStatus.CANCELLED.value:
        return view(before)
    after = repo.StoredAppointment(**{**before.__dict__, "status": AppointmentStatus.CANCELLED.value,
                                      "version": before.version + 1, "updated_at": at})  # fmt: skip
    return _replace(scope, before, after, "appointment.cancelled", at)


def day_list(scope: Scope, *, day: date | None, provider_id: str | None, limit: int,
             next_token: str | None) -> Page[Appointment]:  # fmt: skip
    day = day or datetime.now(clinics.zone(scope.clinic_id)).date()  # the clinic's today, as the visits queue
    found = repo.day_page(scope.clinic_id, day.isoformat(), provider_id=provider_id, limit=limit,
                          next_token=next_token)  # fmt: skip
    items = [view(stored) for stored in found.items]
    audit.read(scope, "appointment", [item.id for item in items])
    return Page[Appointment](items=items, next=found.next)
