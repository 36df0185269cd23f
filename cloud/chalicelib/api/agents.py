"""Edge agents: GET /agents (last heartbeat and counters of each agent of the caller's clinic), and each agent's
remote configuration, GET and PUT /agents/{agent_id}/config (docs/edge_agent.md "Remote configuration")."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from chalice import Blueprint
from pydantic import ConfigDict, Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.errors import InvalidInput
from chalicelib.models import AgentStatus, Page
from chalicelib.services import agent_config, views
from chalicelib.services.agent_config import AgentConfig
from chalicelib.services.roles import Permission
from shared_models import RemoteConfig
from shared_models.agent_config import ID_PATTERN

bp = Blueprint(__name__)


class ConfigUpdate(RequestModel):
    """The next version of an agent's configuration: `config` is checked with the agent's own schema
    (docs/schema/agent_config.schema.json); `expected_version` is the version read before (0 for the first)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"expected_version": 0, "config": RemoteConfig.model_json_schema()["examples"][0]}]
        }
    )
    expected_version: int = Field(ge=0)
    config: dict[str, Any]


def _agent_id(raw: str) -> str:
    value = unquote(raw)
    if not re.match(ID_PATTERN, value) or len(value) > 64:
        raise InvalidInput(
            "agent_id must be 1-64 letters, digits, '_', '.', '-'", code="invalid_agent_id", field="agent_id"
        )
    return value


@endpoint(bp, "GET", "/agents", permission=Permission.AGENTS_READ, query=PageQuery, response=Page[AgentStatus])
def agents(call: Call) -> Page[AgentStatus]:
    """The clinic's edge agents: last heartbeat, spool counts, ingest counters."""
    return views.agents(call.scope, limit=call.query.limit, next_token=call.query.next)


@endpoint(bp, "GET", "/agents/{agent_id}/config", permission=Permission.AGENTS_CONFIGURE, response=AgentConfig)
def get_config(call: Call, agent_id: str) -> AgentConfig:
    """An agent's published configuration, its version, and the version the agent reports it runs on."""
    return agent_config.get(call.scope, _agent_id(agent_id))


@endpoint(bp, "PUT", "/agents/{agent_id}/config", permission=Permission.AGENTS_CONFIGURE, body=ConfigUpdate,
          response=AgentConfig)  # fmt: skip
def put_config(call: Call, agent_id: str) -> AgentConfig:
    """Publishes the next version of an agent's configuration (409 when another version came first)."""
    body: ConfigUpdate = call.body
    return agent_config.put(call.scope, _agent_id(agent_id), expected_version=body.expected_version, config=body.config)
