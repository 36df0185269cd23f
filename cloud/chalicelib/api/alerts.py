"""Fleet alerts: GET /alerts (silent agents and devices of the caller's clinic; docs/edge_agent.md)."""

from __future__ import annotations

from typing import Literal

from chalice import Blueprint

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import fleet
from chalicelib.services.fleet import Alert
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class AlertsQuery(PageQuery):
    state: Literal["open", "resolved"] = "open"


@endpoint(bp, "GET", "/alerts", permission=Permission.AGENTS_READ, query=AlertsQuery, response=Page[Alert])
def alerts(call: Call) -> Page[Alert]:
    """The clinic's fleet alerts (silent agents and devices), open ones by default, oldest first."""
    return fleet.alerts(call.scope, call.query.state, limit=call.query.limit, next_token=call.query.next)
