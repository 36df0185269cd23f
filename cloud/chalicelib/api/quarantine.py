"""Quarantine: GET /quarantine (inputs the edge could not parse, with reasons; caller's clinic only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.services import views
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


@endpoint(bp, "/quarantine", permission=Permission.QUARANTINE_READ)
def quarantine(call: Call) -> dict[str, Any]:
    query = call.query(PageQuery)
    return views.quarantine(call.caller, limit=query.limit, next_token=query.next).model_dump(mode="json")
