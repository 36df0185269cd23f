"""Device readings: GET /patients/{patient_id}/readings and GET /readings/unmatched (caller's clinic only)."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page, StoredReading, UnmatchedEnvelope
from chalicelib.services import views
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
