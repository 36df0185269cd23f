"""Device readings: GET /patients/{patient_id}/readings, GET /readings/unmatched, the staff assignment of
unmatched captures (assign / unassign) and the candidates offered to a patient (caller's clinic only)."""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Blueprint
from pydantic import Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.errors import InvalidInput
from chalicelib.models import Page, StoredReading, UnmatchedEnvelope
from chalicelib.services import assignment, views
from chalicelib.services.assignment import AssignmentResult
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class ReadingsQuery(PageQuery):
    kind: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")


@endpoint(bp, "GET", "/patients/{patient_id}/readings", permission=Permission.READINGS_READ, query=ReadingsQuery,
          response=Page[StoredReading])  # fmt: skip
def patient_readings(call: Call, patient_id: str) -> Page[StoredReading]:
    """A patient's device readings, newest first, optionally of one kind."""
    query: ReadingsQuery = call.query
    return views.patient_readings(
        call.scope, params.patient_id(patient_id), kind=query.kind, limit=query.limit, next_token=query.next
    )


@endpoint(bp, "GET", "/readings/unmatched", permission=Permission.UNMATCHED_READ, query=PageQuery,
          response=Page[UnmatchedEnvelope])  # fmt: skip
def unmatched(call: Call) -> Page[UnmatchedEnvelope]:
    """Device captures that arrived without a patient id, newest first, for staff to match."""
    return views.unmatched(call.scope, limit=call.query.limit, next_token=call.query.next)


class AssignBody(RequestModel):
    patient_id: str = Field(min_length=1, max_length=params.MAX_PATIENT_ID)


def _envelope_id(raw: str) -> str:
    """The `{envelope_id}` of a path: URL-decoded, stripped, 1-128 printable characters (422 otherwise)."""
    value = unquote(raw).strip()
    if not value or len(value) > params.MAX_PATIENT_ID or not value.isprintable():
        raise InvalidInput("envelope_id must be 1-128 printable characters", code="invalid_envelope_id")
    return value


@endpoint(bp, "POST", "/readings/unmatched/{envelope_id}/assign", permission=Permission.UNMATCHED_ASSIGN,
          body=AssignBody, response=AssignmentResult)  # fmt: skip
def assign(call: Call, envelope_id: str) -> AssignmentResult:
    """Attach an unmatched capture's readings to a patient (its id or OP number)."""
    body: AssignBody = call.body
    return assignment.assign(call.scope, _envelope_id(envelope_id), body.patient_id)


@endpoint(bp, "POST", "/readings/unmatched/{envelope_id}/unassign", permission=Permission.UNMATCHED_ASSIGN,
          response=AssignmentResult)  # fmt: skip
def unassign(call: Call, envelope_id: str) -> AssignmentResult:
    """Undo an assignment made today: the capture is unmatched again."""
    return assignment.unassign(call.scope, _envelope_id(envelope_id))


@endpoint(bp, "GET", "/patients/{patient_id}/unmatched-candidates", permission=Permission.UNMATCHED_READ,
          response=Page[UnmatchedEnvelope])  # fmt: skip
def unmatched_candidates(call: Call, patient_id: str) -> Page[UnmatchedEnvelope]:
    """Unmatched captures whose hints name this patient's id, OP number or national id."""
    items = assignment.candidates(call.scope, params.patient_id(patient_id))
    return Page[UnmatchedEnvelope](items=items, next=None)
