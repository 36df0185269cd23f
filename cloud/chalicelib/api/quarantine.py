"""Quarantine: GET /quarantine (inputs the edge could not parse, with reasons; caller's clinic only)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page, QuarantineItem
from chalicelib.services import views
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


@endpoint(bp, "GET", "/quarantine", permission=Permission.QUARANTINE_READ, query=PageQuery,
          response=Page[QuarantineItem])  # fmt: skip
def quarantine(call: Call) -> Page[QuarantineItem]:
    """Inputs the clinic's agents could not parse, newest first, with their reasons."""
    return views.quarantine(call.scope, limit=call.query.limit, next_token=call.query.next)
