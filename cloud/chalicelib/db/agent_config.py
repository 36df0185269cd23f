"""Agent configurations repository: per edge agent, the configuration admins publish to it, versioned.

Directory table, the agent's clinic partition: `AGENTCONFIG#{agent}` holds the current version (what GET
answers and S3 carries), `AGENTCONFIG#{agent}#V{version}` each version ever published (kept for the record).
The agent's own item (db/agents.py) carries `config_published_version`, the guard of every PUT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.db.agents import AgentItem
from chalicelib.services.scope import Scope


class AgentConfigItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `AGENTCONFIG#{agent}` (current) and `AGENTCONFIG#{agent}#V{version:010d}`."""

    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    version = NumberAttribute()
    config = JSONAttribute()  # a RemoteConfig as JSON (shared_models/agent_config.py), as the admin sent it
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()  # the audit actor ("user:<id>")


ITEMS = (AgentConfigItem,)


def _current_sk(agent_id: str) -> str:
    return f"AGENTCONFIG#{keys.segment(agent_id)}"


def _version_sk(agent_id: str, version: int) -> str:
    return f"{_current_sk(agent_id)}#V{version:010d}"


@dataclass(frozen=True)
class StoredConfig:
    agent_id: str
    version: int
    config: dict[str, Any]
    updated_at: datetime
    updated_by: str


def current(scope: Scope, agent_id: str) -> StoredConfig | None:
    """The version now published to the agent (a consistent read: the publisher reads it back)."""
    row = store.get(AgentConfigItem, keys.clinic_pk(scope.clinic_id), _current_sk(agent_id))
    if row is None:
        return None
    return StoredConfig(row.agent_id, int(row.version), dict(row.config), row.updated_at, row.updated_by)


def publish(
    change: Any, scope: Scope, agent_id: str, *, expected_version: int, config: dict[str, Any], at: datetime
) -> int:
    """Adds the next version to `change` (an audit.Change): the agent's guard moves from `expected_version` to
    the next one only if nobody published meanwhile (else the transaction fails: store.ConditionFailed)."""
    version = expected_version + 1
    guard = AgentItem(keys.clinic_pk(scope.clinic_id), keys.agent_sk(agent_id))
    unchanged = (
        AgentItem.config_published_version.does_not_exist()
        if expected_version == 0
        else AgentItem.config_published_version == expected_version
    )
    change.update(guard, [AgentItem.config_published_version.set(version)], condition=AgentItem.pk.exists() & unchanged)
    fields: dict[str, Any] = {"clinic_id": scope.clinic_id, "agent_id": agent_id, "version": version, "config": config,
              "updated_at": at, "updated_by": scope.actor}  # fmt: skip
    pk = keys.clinic_pk(scope.clinic_id)
    change.save(AgentConfigItem(pk, _current_sk(agent_id), **fields))
    change.save(
        AgentConfigItem(pk, _version_sk(agent_id, version), **fields), condition=AgentConfigItem.sk.does_not_exist()
    )
    return version
