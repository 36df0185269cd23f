"""Appointments: POST /appointments, GET /appointments?date=&provider=, PUT /appointments/{appointment_id}
(reschedule), POST /appointments/{appointment_id}/cancel. See docs/journey.md."""

from __future__ import annotations

import datetime as dt

from chalice import Blueprint
from pydantic import ConfigDict, Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.api.visits import MAX_ID, path_id
from chalicelib.models import Page
from chalicelib.services import appointments
from chalicelib.services.appointments import Appointment
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

Time = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["09:30"])
Duration = Field(default=None, ge=15, le=240, multiple_of=15)


class NewAppointment(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"patient_id": "P-1", "provider_id": "u-1", "date": "2030-01-14",
                                         "time": "09:30", "duration_minutes": 30, "reason": "Review"}]}
    )  # fmt: skip
    patient_id: str = Field(min_length=1, max_length=params.MAX_PATIENT_ID)
    provider_id: str = Field(min_length=1, max_length=MAX_ID)
    date: dt.date
    time: str = Time
    duration_minutes: int | None = Duration
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class Reschedule(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"date": "2030-01-15", "time": "10:00"}]})
    date: dt.date | None = None
    time: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    duration_minutes: int | None = Duration
    provider_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    reason: str | None = Field(default=None, min_length=1, max_length=500)


class DayQuery(PageQuery):
    date: dt.date | None = None
    provider: str | None = Field(default=None, min_length=1, max_length=MAX_ID)


@endpoint(bp, "POST", "/appointments", permission=Permission.APPOINTMENTS_BOOK, body=NewAppointment,
          response=Appointment, status=201)  # fmt: skip
def book(call: Call) -> Appointment:
    """Book a patient with a provider (409 slot_taken when the provider is already booked then)."""
    body: NewAppointment = call.body
    return appointments.book(call.scope, patient_id=body.patient_id, provider_id=body.provider_id, day=body.date,
                             time=body.time, duration=body.duration_minutes or appointments.DEFAULT_DURATION,
                             reason=body.reason)  # fmt: skip


@endpoint(bp, "GET", "/appointments", permission=Permission.APPOINTMENTS_READ, query=DayQuery,
          response=Page[Appointment])  # fmt: skip
def day(call: Call) -> Page[Appointment]:
    """A day's appointments (default the clinic's today, in its time zone) in time order, optionally of one provider."""
    query: DayQuery = call.query
    return appointments.day_list(call.scope, day=query.date, provider_id=query.provider, limit=query.limit,
                                 next_token=query.next)  # fmt: skip


@endpoint(bp, "PUT", "/appointments/{appointment_id}", permission=Permission.APPOINTMENTS_BOOK, body=Reschedule,
          response=Appointment)  # fmt: skip
def reschedule(call: Call, appointment_id: str) -> Appointment:
    """Reschedule (the provider's slots move atomically)."""
    body: Reschedule = call.body
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return appointments.reschedule(call.scope, path_id(appointment_id, "appointment_id"), changes)


@endpoint(bp, "POST", "/appointments/{appointment_id}/cancel", permission=Permission.APPOINTMENTS_BOOK,
          response=Appointment)  # fmt: skip
def cancel(call: Call, appointment_id: str) -> Appointment:
    """Cancel an appointment (its slots are freed)."""
    return appointments.cancel(call.scope, path_id(appointment_id, "appointment_id"))
