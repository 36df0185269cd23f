"""Visits: open (POST /visits), move through the clinic's statuses and discharge (PUT /visits/{visit_id}), the
clinic's queue of a day (GET /visits), one visit, a patient's visits. See docs/journey.md."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

from chalice import Blueprint
from pydantic import ConfigDict, Field, model_validator

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.errors import InvalidInput
from chalicelib.models import Page
from chalicelib.services import visits
from chalicelib.services.roles import Permission
from chalicelib.services.visits import PaymentType, TriageCategory, Visit, VisitStatus

bp = Blueprint(__name__)

MAX_ID = 128


def path_id(raw: str, name: str) -> str:
    """An opaque id of a path (`{visit_id}`, `{invoice_id}` ...): URL-decoded, stripped, 1-128 printable
    characters (422 naming it otherwise)."""
    value = unquote(raw).strip()
    if not value or len(value) > MAX_ID or not value.isprintable():
        raise InvalidInput(f"{name} must be 1-{MAX_ID} printable characters", code=f"invalid_{name}", field=name)
    return value


Complaint = Field(min_length=1, max_length=500)
Reference = Field(default=None, min_length=1, max_length=64)


class NewVisit(RequestModel):
    patient_id: str = Field(min_length=1, max_length=params.MAX_PATIENT_ID)
    chief_complaint: str = Complaint
    triage_category: TriageCategory
    payment_type: PaymentType
    payment_reference: str | None = Reference


class FollowUp(RequestModel):
    date: dt.date
    notes: str | None = Field(default=None, min_length=1, max_length=1000)
    provider_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    time: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class VisitChange(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "TRIAGED", "triage_category": "URGENT"}]})
    status: VisitStatus | None = None
    chief_complaint: str | None = Field(default=None, min_length=1, max_length=500)
    triage_category: TriageCategory | None = None
    payment_type: PaymentType | None = None
    payment_reference: str | None = Reference
    discharge_notes: str | None = Field(default=None, min_length=1, max_length=4000)
    follow_up: FollowUp | None = None

    @model_validator(mode="after")
    def _something(self) -> VisitChange:
        if not self.model_fields_set:
            raise ValueError("give a status or a field to change")
        return self

    def fields(self) -> dict[str, object]:
        names = {"chief_complaint", "triage_category", "payment_type", "payment_reference"}
        return {name: getattr(self, name) for name in self.model_fields_set & names if getattr(self, name) is not None}


class QueueQuery(PageQuery):
    status: VisitStatus | None = None
    date: dt.date | None = None


@endpoint(bp, "POST", "/visits", permission=Permission.VISITS_OPEN, body=NewVisit, response=Visit, status=201)
def open_visit(call: Call) -> Visit:
    """Open a visit for a registered patient (REGISTERED, with its consultation charge)."""
    body: NewVisit = call.body
    return visits.open_visit(
        call.scope, patient_id=body.patient_id, chief_complaint=body.chief_complaint,
        triage_category=body.triage_category, payment_type=body.payment_type, payment_reference=body.payment_reference,
    )  # fmt: skip


@endpoint(bp, "GET", "/visits", permission=Permission.VISITS_READ, query=QueueQuery, response=Page[Visit])
def queue(call: Call) -> Page[Visit]:
    """The clinic's queue: visits opened on a day (default today), oldest first, optionally of one status."""
    query: QueueQuery = call.query
    return visits.queue(call.scope, day=query.date, status=query.status, limit=query.limit, next_token=query.next)


@endpoint(bp, "GET", "/visits/{visit_id}", permission=Permission.VISITS_READ, response=Visit)
def visit(call: Call, visit_id: str) -> Visit:
    """One visit, with its bill totals."""
    return visits.get(call.scope, path_id(visit_id, "visit_id"))


@endpoint(bp, "PUT", "/visits/{visit_id}", permission=Permission.VISITS_UPDATE, body=VisitChange, response=Visit)
def change(call: Call, visit_id: str) -> Visit:
    """Move a visit to its next status (409 illegal_transition names the allowed ones) or change its fields."""
    body: VisitChange = call.body
    return visits.update(call.scope, path_id(visit_id, "visit_id"), status=body.status, fields=body.fields(),
                         discharge_notes=body.discharge_notes,
                         follow_up=body.follow_up.model_dump() if body.follow_up else None)  # fmt: skip


@endpoint(bp, "GET", "/patients/{patient_id}/visits", permission=Permission.VISITS_READ, query=PageQuery,
          response=Page[Visit])  # fmt: skip
def patient_visits(call: Call, patient_id: str) -> Page[Visit]:
    """A patient's visits, newest first."""
    query: PageQuery = call.query
    return visits.of_patient(call.scope, params.patient_id(patient_id), limit=query.limit, next_token=query.next)
