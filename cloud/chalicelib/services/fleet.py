"""Fleet health: silent agents and devices raise alerts, resolved when they speak again
(docs/edge_agent.md "Fleet health").

An agent is silent when no heartbeat came for 3 of its beat intervals (at least 10 minutes). A device (one
configured source, or one device a source names) is silent when nothing came from it for longer than
expected: `expect_every_minutes` from the agent's configuration, else learned from its history — 1.5 x the
longest of the last 20 gaps between its inputs as successive heartbeats saw them, at least 1 hour, and no
alert before 3 gaps are known (a new device is not "silent" before it has a rhythm). While its agent is
silent, its devices raise nothing: one alert says the whole clinic PC is gone.

`reconcile` brings one agent's open alerts in line with what is silent now; the scheduled `fleet` Lambda
runs it for every agent (`evaluate`), ingest after every heartbeat (so a device that speaks again resolves
its alert at once). Each change is one transaction: the alerts, the agent's `open_alerts`, one audit entry
and the outbox events `agent.silent`, `device.silent`, `agent.resumed`, `device.resumed`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.db import agents as agents_repo
from chalicelib.db import alerts as alerts_repo
from chalicelib.db import store
from chalicelib.models import AgentStatus, Page
from chalicelib.services import audit
from chalicelib.services.scope import Scope
from shared_models import AgentHeartbeat, DeviceActivity

ACTOR = "system:fleet"
AGENT = "agent"
DEFAULT_INTERVAL_S = 60
AGENT_MISSED_BEATS = 3
MIN_AGENT_SILENCE_S = 600
MIN_DEVICE_SILENCE_S = 3600
LEARN_FACTOR = 1.5
MIN_GAPS = 3
KEEP_GAPS = 20
MAX_CHANGES = 40  # per transaction (DynamoDB takes 100 items; each change is an alert and an event)


class Alert(BaseModel):
    id: str
    kind: str  # agent_silent | device_silent
    agent_id: str
    source: str | None = None
    device_id: str | None = None
    state: Literal["open", "resolved"]
    opened_at: datetime
    resolved_at: datetime | None = None
    last_seen_at: datetime | None = None
    silent_after_seconds: int


@dataclass(frozen=True)
class Silence:
    subject: str
    kind: str  # agent_silent | device_silent
    source: str | None
    device_id: str | None
    last_seen_at: datetime | None
    after_seconds: int


def device_subject(source: str, device_id: str | None) -> str:
    return f"device:{source}/{device_id or '-'}"


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def agent_silence_after(interval_seconds: int | None) -> int:
    return max(MIN_AGENT_SILENCE_S, AGENT_MISSED_BEATS * int(interval_seconds or DEFAULT_INTERVAL_S))


def device_silence_after(device: dict[str, Any], history: dict[str, Any]) -> int | None:
    """Configured, else learned from the device's gaps; None while too little history is known."""
    if device.get("expect_every_minutes"):
        return int(device["expect_every_minutes"]) * 60
    gaps = history.get(device_subject(device["source"], device.get("device_id")), {}).get("gaps", [])
    if len(gaps) < MIN_GAPS:
        return None
    return max(MIN_DEVICE_SILENCE_S, int(LEARN_FACTOR * max(gaps)))


def learn(history: dict[str, Any] | None, devices: list[DeviceActivity]) -> dict[str, Any]:
    """The devices' history after a heartbeat: a new gap each time a device's last input moved on."""
    learned = dict(history or {})
    for device in devices:
        if device.last_seen_at is None:
            continue
        subject = device_subject(device.source, device.device_id)
        known = learned.get(subject)
        seen = device.last_seen_at.isoformat()
        if known is None:
            learned[subject] = {"last_seen_at": seen, "gaps": []}
            continue
        before = _time(known.get("last_seen_at"))
        if before is not None and device.last_seen_at > before:
            gap = int((device.last_seen_at - before).total_seconds())
            learned[subject] = {"last_seen_at": seen, "gaps": [*known.get("gaps", []), gap][-KEEP_GAPS:]}
    return learned


def heartbeat_attributes(heartbeat: AgentHeartbeat, previous: agents_repo.AgentItem | None) -> dict[str, Any]:
    """What a heartbeat sets on the agent's item for fleet health (AgentItem attribute names)."""
    extra = heartbeat.model_extra or {}
    pending = extra.get("pending_bytes")
    return {
        "interval_seconds": heartbeat.interval_seconds,
        "devices": [device.model_dump(mode="json") for device in heartbeat.devices],
        "oldest_pending_at": heartbeat.oldest_pending_at,
        "errors_by_kind": dict(heartbeat.errors_by_kind),
        "pending_bytes": int(pending) if isinstance(pending, int) else None,
        "history": learn(previous.history if previous is not None else None, heartbeat.devices),
        # Remote configuration: what the agent runs on and what it refused (absent clears an older report).
        "config_version": heartbeat.config_version,
        "config_error": heartbeat.config_error.model_dump(mode="json") if heartbeat.config_error else None,
    }


def silences(row: agents_repo.AgentItem, now: datetime) -> dict[str, Silence]:
    """What is silent now: the agent, or (while it beats) each device past its threshold."""
    if row.sent_at is None:
        return {}
    after = agent_silence_after(int(row.interval_seconds) if row.interval_seconds is not None else None)
    if (now - row.sent_at).total_seconds() > after:
        return {AGENT: Silence(AGENT, "agent_silent", None, None, row.sent_at, after)}
    found: dict[str, Silence] = {}
    for device in row.devices or []:
        limit = device_silence_after(device, row.history or {})
        last = _time(device.get("last_seen_at"))
        since = last or row.started_at  # never heard from: silent since the agent started
        if limit is None or since is None or (now - since).total_seconds() <= limit:
            continue
        subject = device_subject(device["source"], device.get("device_id"))
        found[subject] = Silence(subject, "device_silent", device["source"], device.get("device_id"), last, limit)
    return found


def reconcile(row: agents_repo.AgentItem, now: datetime, *, open_new: bool = True) -> tuple[int, int]:
    """Opens alerts for what fell silent (unless `open_new` is False: a heartbeat only resolves) and
    resolves those that spoke again; (opened, resolved). While the agent is silent its open device alerts
    stay open: nothing is known of its devices."""
    current = dict(row.open_alerts or {})
    silent: dict[str, Any] = dict(silences(row, now))
    if AGENT in silent:
        silent.update({subject: None for subject in current if subject != AGENT})
    to_open = [s for subject, s in sorted(silent.items()) if subject not in current and s is not None]
    to_open = to_open[:MAX_CHANGES] if open_new else []
    to_close = [(subject, alert) for subject, alert in sorted(current.items()) if subject not in silent]
    to_close = to_close[: MAX_CHANGES - len(to_open)]
    if not to_open and not to_close:
        return 0, 0
    still_open = {subject: alert for subject, alert in current.items() if subject not in dict(to_close)}
    scope = Scope.system(row.clinic_id, ACTOR)
    try:
        with audit.change(scope, "fleet.alerts_changed", resource="agent", resource_id=row.agent_id, at=now,
                          opened=str(len(to_open)), resolved=str(len(to_close))) as c:  # fmt: skip
            for silence in to_open:
                alert_id = uuid.uuid4().hex
                c.save(
                    alerts_repo.new_item(
                        row.clinic_id, row.agent_id, alert_id, silence.subject, kind=silence.kind,
                        source=silence.source, device_id=silence.device_id, opened_at=now,
                        last_seen_at=silence.last_seen_at, silent_after_seconds=silence.after_seconds,
                    ),
                    condition=alerts_repo.AlertItem.sk.does_not_exist(),
                )  # fmt: skip
                still_open[silence.subject] = alert_id
                c.emit(f"{_noun(silence.subject)}.silent", **_subject(row.agent_id, alert_id, silence))
            for subject, alert_id in to_close:
                alert, resolving = alerts_repo.resolve(row.clinic_id, alert_id, now)
                c.update(alert, resolving, condition=alerts_repo.AlertItem.state == alerts_repo.OPEN)
                c.emit(f"{_noun(subject)}.resumed", agent_id=row.agent_id, alert_id=alert_id)
            item, actions, condition = agents_repo.alerts_update(row, still_open)
            c.update(item, actions, condition=condition)
    except (store.ConditionFailed, store.Contention):
        return 0, 0  # reconciled meanwhile by the other path (evaluator / heartbeat): the next run sees it
    return len(to_open), len(to_close)


def _noun(subject: str) -> str:
    return "agent" if subject == AGENT else "device"


def _subject(agent_id: str, alert_id: str, silence: Silence) -> dict[str, str]:
    subject = {"agent_id": agent_id, "alert_id": alert_id}
    if silence.source:
        subject["source"] = silence.source
    if silence.device_id:
        subject["device_id"] = silence.device_id
    return subject


def after_heartbeat(clinic_id: str, agent_id: str, now: datetime) -> None:
    row = agents_repo.get(clinic_id, agent_id)
    if row is not None:
        reconcile(row, now, open_new=False)  # opening is the scheduled evaluator's: a late beat is no news


def evaluate(now: datetime | None = None) -> dict[str, int]:
    """Every agent of every clinic (the scheduled `fleet` Lambda; locally a timer of `make run`)."""
    now = now or datetime.now(UTC)
    counts: Counter[str] = Counter()
    token: str | None = None
    while True:
        page = agents_repo.fleet_page(token)
        for row in page.items:
            opened, resolved = reconcile(row, now)
            counts.update(agents=1, opened=opened, resolved=resolved)
        if page.next is None:
            return {"agents": counts["agents"], "opened": counts["opened"], "resolved": counts["resolved"]}
        token = page.next


def status(agent: AgentStatus, now: datetime) -> AgentStatus:
    """The agent as GET /agents shows it: ages as of its last heartbeat, silence as of now."""
    if agent.sent_at is None:
        return agent
    silent = (now - agent.sent_at).total_seconds() > agent_silence_after(agent.interval_seconds)
    uptime = int((agent.sent_at - agent.started_at).total_seconds()) if agent.started_at else None
    oldest = agent.oldest_pending_at
    age = max(0, int((agent.sent_at - oldest).total_seconds())) if oldest else None
    return agent.model_copy(update={"silent": silent, "uptime_seconds": uptime, "oldest_pending_age_seconds": age})


def alerts(scope: Scope, state: str, *, limit: int, next_token: str | None) -> Page[Alert]:
    """The clinic's open (or resolved) alerts, oldest first: one Query."""
    stored = alerts_repo.OPEN if state == "open" else alerts_repo.RESOLVED
    page = alerts_repo.page(scope.clinic_id, stored, limit=limit, next_token=next_token)
    return Page[Alert](items=[_alert(row) for row in page.items], next=page.next)


def _alert(row: alerts_repo.AlertItem) -> Alert:
    return Alert(
        id=row.alert_id, kind=row.kind, agent_id=row.agent_id, source=row.source, device_id=row.device_id,
        state="open" if row.state == alerts_repo.OPEN else "resolved", opened_at=row.opened_at,
        resolved_at=row.resolved_at, last_seen_at=row.last_seen_at,
        silent_after_seconds=int(row.silent_after_seconds),
    )  # fmt: skip
