"""Edge agents: GET /agents (last heartbeat and counters of each agent of the caller's clinic)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.models import AgentStatus, Page
from chalicelib.services import views
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


@endpoint(bp, "GET", "/agents", permission=Permission.AGENTS_READ, query=PageQuery, response=Page[AgentStatus])
def agents(call: Call) -> Page[AgentStatus]:
    """The clinic's edge agents: last heartbeat, spool counts, ingest counters."""
    return views.agents(call.scope, limit=call.query.limit, next_token=call.query.next)
