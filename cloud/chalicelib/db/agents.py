"""Agents repository: one item per edge agent holding its last heartbeat and ingest counters."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError

from chalicelib.db import keys, store
from chalicelib.models import AgentStatus

FLEET = "FLEET"  # gsi1 partition of every agent of every clinic: the fleet evaluator pages through it


class AgentItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `AGENT#{agent}`; gsi1 `FLEET` / `{clinic}#{agent}` (the fleet evaluator)."""

    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()

    clinic_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    version = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    counts = JSONAttribute(null=True)
    last_upload_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    last_error_at = UTCDateTimeAttribute(null=True)
    # Maintained on write by the ingest handler (ADD), so GET /agents needs no aggregation.
    envelopes_ingested = NumberAttribute(null=True)
    readings_ingested = NumberAttribute(null=True)
    unmatched_ingested = NumberAttribute(null=True)
    quarantined = NumberAttribute(null=True)
    last_ingest_at = UTCDateTimeAttribute(null=True)
    # Fleet health, from the heartbeat: its interval, per source/device activity, spool age and errors.
    interval_seconds = NumberAttribute(null=True)
    devices = JSONAttribute(null=True)  # the heartbeat's `devices` (DeviceActivity as JSON)
    oldest_pending_at = UTCDateTimeAttribute(null=True)
    errors_by_kind = JSONAttribute(null=True)
    pending_bytes = NumberAttribute(null=True)
    history = JSONAttribute(null=True)  # per device subject: last seen and the gaps between inputs (learned)
    open_alerts = JSONAttribute(null=True)  # subject → alert id (db/alerts.py)
    alerts_version = NumberAttribute(null=True)  # guards `open_alerts` (evaluator and heartbeat may race)
    # Remote configuration: the last version published to the agent (db/agent_config.py; the guard of every
    # PUT /agents/{agent}/config) and, from its heartbeat, the version it runs on and the last one it refused.
    config_published_version = NumberAttribute(null=True)
    config_version = NumberAttribute(null=True)
    config_error = JSONAttribute(null=True)


ITEMS = (AgentItem,)


def _is_condition_failure(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _set_or_remove(attribute: Any, value: Any) -> Any:
    # An absent value clears what an older heartbeat said (e.g. the last error).
    return attribute.remove() if value is None else attribute.set(value)


def exists(clinic_id: str, agent_id: str) -> bool:
    store.bound()
    try:
        AgentItem.get(keys.clinic_pk(clinic_id), keys.agent_sk(agent_id), attributes_to_get=["pk"])
    except AgentItem.DoesNotExist:
        return False
    return True


def get(clinic_id: str, agent_id: str) -> AgentItem | None:
    return store.get(AgentItem, keys.clinic_pk(clinic_id), keys.agent_sk(agent_id))


def fleet_page(next_token: str | None, *, limit: int = 100) -> store.Page[AgentItem]:
    """One page of every agent of every clinic (the scheduled evaluator; never a request path)."""
    return store.query_page(AgentItem, FLEET, index="gsi1", limit=limit, next_token=next_token)


def record_heartbeat(status: AgentStatus, fleet: dict[str, Any] | None = None) -> bool:
    """Stores the heartbeat unless a newer one is already stored (S3 events can arrive out of order).
    Counters kept by the ingest are left alone. Returns False when the heartbeat was older.
    `fleet`: the fleet-health attributes (AgentItem's names) to set with it."""
    store.bound()
    if status.sent_at is None:
        raise ValueError("a heartbeat needs sent_at")
    sent_at = status.sent_at
    item = AgentItem(keys.clinic_pk(status.clinic_id), keys.agent_sk(status.agent_id))
    older = AgentItem.sent_at.does_not_exist() | (AgentItem.sent_at < sent_at)
    try:
        item.update(
            actions=[
                AgentItem.clinic_id.set(status.clinic_id),
                AgentItem.agent_id.set(status.agent_id),
                AgentItem.sent_at.set(sent_at),
                AgentItem.counts.set(dict(status.counts)),
                _set_or_remove(AgentItem.version, status.version),
                _set_or_remove(AgentItem.started_at, status.started_at),
                _set_or_remove(AgentItem.last_upload_at, status.last_upload_at),
                _set_or_remove(AgentItem.last_error, status.last_error),
                _set_or_remove(AgentItem.last_error_at, status.last_error_at),
                AgentItem.gsi1pk.set(FLEET),
                AgentItem.gsi1sk.set(f"{keys.segment(status.clinic_id)}#{keys.segment(status.agent_id)}"),
                *(_set_or_remove(getattr(AgentItem, name), value) for name, value in (fleet or {}).items()),
            ],
            condition=older,
        )
    except UpdateError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


def counter_update(clinic_id: str, agent_id: str, at: Any, **increments: int) -> tuple[AgentItem, list[Any]]:
    """The item and actions that add to an agent's counters (used inside ingest transactions)."""
    item = AgentItem(keys.clinic_pk(clinic_id), keys.agent_sk(agent_id))
    actions: list[Any] = [
        AgentItem.clinic_id.set(clinic_id),
        AgentItem.agent_id.set(agent_id),
        AgentItem.last_ingest_at.set(at),
    ]
    for name, amount in increments.items():
        actions.append(getattr(AgentItem, name).add(amount))
    return item, actions


def list_for_clinic(clinic_id: str, *, limit: int, next_token: str | None) -> store.Page[AgentStatus]:
    found = store.query_page(AgentItem, keys.clinic_pk(clinic_id), prefix="AGENT#", limit=limit, next_token=next_token)
    return store.Page([_from_item(row) for row in found.items], found.next)


def alerts_update(row: AgentItem, open_alerts: dict[str, str]) -> tuple[AgentItem, list[Any], Any]:
    """The item, actions and condition that replace an agent's open alerts (inside the alerts' transaction)."""
    version = row.alerts_version
    condition = AgentItem.alerts_version.does_not_exist() if version is None else AgentItem.alerts_version == version
    item = AgentItem(row.pk, row.sk)
    return item, [AgentItem.open_alerts.set(open_alerts), AgentItem.alerts_version.add(1)], condition


def _from_item(row: AgentItem) -> AgentStatus:
    return AgentStatus(
        clinic_id=row.clinic_id,
        agent_id=row.agent_id,
        version=row.version,
        sent_at=row.sent_at,
        started_at=row.started_at,
        counts=row.counts or {},
        last_upload_at=row.last_upload_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        envelopes_ingested=int(row.envelopes_ingested or 0),
        readings_ingested=int(row.readings_ingested or 0),
        unmatched_ingested=int(row.unmatched_ingested or 0),
        quarantined=int(row.quarantined or 0),
        last_ingest_at=row.last_ingest_at,
        interval_seconds=int(row.interval_seconds) if row.interval_seconds is not None else None,
        devices=row.devices or [],
        oldest_pending_at=row.oldest_pending_at,
        errors_by_kind=row.errors_by_kind or {},
        pending_bytes=int(row.pending_bytes) if row.pending_bytes is not None else None,
        open_alerts=len(row.open_alerts or {}),
        config_version=int(row.config_version) if row.config_version is not None else None,
        config_published_version=int(row.config_published_version or 0),
        config_error=row.config_error,
    )
