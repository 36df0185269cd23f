"""A published configuration read and checked (pure: no IO): the document around it, that it is meant for this
agent, and its `config` with the very models the TOML is checked with (shared_models/agent_config.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from edge_agent.config import AgentConfig, RemoteConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.identity import Identity
from shared_models import PublishedAgentConfig
from shared_models.agent_config import AGENT_CONFIG_SCHEMA, error_lines


class Rejected(EdgeAgentError):
    """A published configuration this agent will not apply; `version` is None when it could not be read."""

    def __init__(self, version: int | None, reason: str) -> None:
        super().__init__(reason)
        self.version = version
        self.reason = reason


@dataclass(frozen=True)
class Published:
    version: int
    published_at: datetime
    config: RemoteConfig
    body: bytes  # as fetched: what the last-good copy keeps, checked again when read back


def _errors(exc: ValidationError) -> str:
    lines = error_lines(exc.errors(include_url=False, include_input=False))
    return "; ".join(f"{path}: {msg}" for path, msg in lines[:10])


def read(body: bytes, ident: Identity) -> Published:
    """Raises Rejected (with the version when known) for anything this agent must not apply."""
    try:
        document = PublishedAgentConfig.model_validate_json(body)
    except ValidationError as exc:
        raise Rejected(None, f"not a published configuration: {_errors(exc)}") from None
    version = document.version
    if document.schema_ != AGENT_CONFIG_SCHEMA:
        raise Rejected(version, f"schema {document.schema_!r} is not {AGENT_CONFIG_SCHEMA!r} (a newer cloud?)")
    if (document.clinic_id, document.agent_id) != (ident.clinic_id, ident.agent_id):
        raise Rejected(version, f"published for {document.clinic_id}/{document.agent_id}, not this agent")
    try:
        config = RemoteConfig.model_validate(document.config)
    except ValidationError as exc:
        raise Rejected(version, _errors(exc)) from None
    return Published(version, document.published_at, config, body)


def effective(local: AgentConfig, remote: RemoteConfig) -> AgentConfig:
    """The TOML with the published sources (all of them) and the live settings the publication sets."""
    settings = {name: getattr(remote, name) for name in ("heartbeat_seconds", "log_level")}
    agent = local.agent.model_copy(update={name: value for name, value in settings.items() if value is not None})
    return local.model_copy(update={"agent": agent, "sources": list(remote.sources)})
