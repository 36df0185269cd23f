"""Remote configuration of edge agents (docs/edge_agent.md "Remote configuration"): admins read and replace an
agent's sources and live settings; each PUT is checked with the agent's own schema, stored as the next version
(a conditional write: two admins racing get one 409), audited, announced (`agent.config_published`) and
published to S3 at `config/{clinic}/{agent}.json`, which that agent alone may read and polls.

Publishing follows the commit, reading the current version back, so a slower publisher never overwrites a
newer version with its own; the agent ignores a version older than the one it runs anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from chalicelib import aws
from chalicelib.db import agent_config as config_repo
from chalicelib.db import agents as agents_repo
from chalicelib.db import store
from chalicelib.errors import Conflict, InvalidInput, NotFound, Unavailable
from chalicelib.services import audit
from chalicelib.services.scope import Scope
from chalicelib.settings import get_settings
from shared_models import PublishedAgentConfig, RemoteConfig
from shared_models.agent_config import error_lines
from shared_models.s3keys import agent_config_key


class AgentConfig(BaseModel):
    """An agent's published configuration as GET and PUT answer it."""

    agent_id: str
    version: int  # 0: nothing published yet (the agent runs on its local TOML)
    config: dict[str, Any] | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    key: str  # where the agent reads it in the ingest bucket
    applied_version: int | None = None  # what the agent's last heartbeat says it runs on
    rejected: dict[str, Any] | None = None  # the last version the agent refused, with why (its heartbeat)


def _agent(scope: Scope, agent_id: str) -> agents_repo.AgentItem:
    row = agents_repo.get(scope.clinic_id, agent_id)
    if row is None:  # unknown here or another clinic's: the same answer
        raise NotFound("no agent with this id in your clinic (an agent is known once it sent a heartbeat)")
    return row


def _view(scope: Scope, agent_id: str, row: agents_repo.AgentItem) -> AgentConfig:
    stored = config_repo.current(scope, agent_id)
    return AgentConfig(
        agent_id=agent_id,
        version=stored.version if stored else 0,
        config=stored.config if stored else None,
        updated_at=stored.updated_at if stored else None,
        updated_by=stored.updated_by if stored else None,
        key=agent_config_key(scope.clinic_id, agent_id),
        applied_version=int(row.config_version) if row.config_version is not None else None,
        rejected=row.config_error,
    )


def get(scope: Scope, agent_id: str) -> AgentConfig:
    return _view(scope, agent_id, _agent(scope, agent_id))


def check(config: dict[str, Any]) -> RemoteConfig:
    """The agent's own schema (shared_models/agent_config.py); 422 naming the first bad key under `config`."""
    try:
        return RemoteConfig.model_validate(config)
    except ValidationError as exc:
        lines = error_lines(exc.errors(include_url=False, include_input=False))
        field = "config." + lines[0][0].replace("[", ".").replace("]", "")
        message = "invalid agent configuration: " + "; ".join(f"{path}: {msg}" for path, msg in lines[:10])
        raise InvalidInput(message, code="invalid_config", field=field) from None


def put(scope: Scope, agent_id: str, *, expected_version: int, config: dict[str, Any]) -> AgentConfig:
    checked = check(config)
    _agent(scope, agent_id)
    at = datetime.now(UTC)
    # Stored as sent minus defaults left out: what the admin wrote, which the agent validates again.
    stored = checked.model_dump(mode="json", exclude_unset=True)
    try:
        with audit.change(scope, "agent.config_published", resource="agent", resource_id=agent_id, at=at,
                          expected_version=str(expected_version)) as change:  # fmt: skip
            version = config_repo.publish(
                change, scope, agent_id, expected_version=expected_version, config=stored, at=at
            )
            change.emit("agent.config_published", agent_id=agent_id, version=str(version))
    except (store.ConditionFailed, store.Contention):
        now = config_repo.current(scope, agent_id)
        raise Conflict(
            f"the configuration is at version {now.version if now else 0}, not {expected_version}: "
            "read it again (GET), then PUT with that expected_version",
            code="version_conflict",
            field="expected_version",
        ) from None
    publish(scope, agent_id)
    return get(scope, agent_id)


def publish(scope: Scope, agent_id: str) -> None:
    """Puts the current version (read back, consistent) where the agent polls it."""
    stored = config_repo.current(scope, agent_id)
    if stored is None:
        return
    document = PublishedAgentConfig(
        clinic_id=scope.clinic_id, agent_id=agent_id, version=stored.version, published_at=stored.updated_at,
        config=stored.config,
    )  # fmt: skip
    settings = get_settings()
    try:
        aws.client("s3", settings).put_object(
            Bucket=settings.names.bucket,
            Key=agent_config_key(scope.clinic_id, agent_id),
            Body=document.model_dump_json(by_alias=True).encode(),
            ContentType="application/json",
            CacheControl="no-store",
            ServerSideEncryption="AES256",  # the bucket policy refuses uploads without it
        )
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(
            f"version {stored.version} is stored but could not be published to the agent ({type(exc).__name__}); "
            "PUT it again with expected_version "
            f"{stored.version} to publish",
            code="config_not_published",
        ) from None
