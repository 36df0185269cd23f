"""Edge agents: GET /agents (last heartbeat and counters of each agent of the caller's clinic)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.services import views
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


@endpoint(bp, "/agents", permission=Permission.AGENTS_READ)
def agents(call: Call) -> dict[str, Any]:
    return {"items": [agent.model_dump(mode="json") for agent in views.agents(call.caller)]}
