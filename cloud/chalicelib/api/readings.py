"""Device readings: GET /patients/{patient_id}/readings and GET /readings/unmatched (caller's clinic only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.services import views
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class ReadingsQuery(PageQuery):
    kind: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")


@endpoint(bp, "/patients/{patient_id}/readings", permission=Permission.READINGS_READ)
def patient_readings(call: Call, patient_id: str) -> dict[str, Any]:
    query = call.query(ReadingsQuery)
    page = views.patient_readings(
        call.caller, params.patient_id(patient_id), kind=query.kind, limit=query.limit, next_token=query.next
    )
    return page.model_dump(mode="json")


@endpoint(bp, "/readings/unmatched", permission=Permission.UNMATCHED_READ)
def unmatched(call: Call) -> dict[str, Any]:
    query = call.query(PageQuery)
    return views.unmatched(call.caller, limit=query.limit, next_token=query.next).model_dump(mode="json")
