"""Fleet health over in-process moto: heartbeats through the ingest Lambda, the scheduled evaluator, GET /alerts
and GET /agents. Silent agents and devices raise one alert each, resolved when they speak again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import events as events_repo
from chalicelib.events.fleet import handler
from chalicelib.events.ingest import lambda_handler
from chalicelib.resources import ResourceNames
from chalicelib.services import fleet
from chalicelib.services.roles import Role
from localdev.router import FakeLambdaContext
from shared_models import AgentHeartbeat, DeviceActivity
from tests.cloud.builders import bearer, heartbeat_object_key, put_object, s3_notification, sqs_event

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _now() -> None:
    """Each test's own "now": set at import, it grew stale when a long parallel run reached this module late."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


def beat(sent_at: datetime, *devices: DeviceActivity, started_at: datetime | None = None, **extra: Any) -> None:
    heartbeat = AgentHeartbeat(
        clinic_id="demo", agent_id="agent-1", version="0.9.0", sent_at=sent_at, started_at=started_at or sent_at,
        counts={"parsed": 2}, interval_seconds=60, devices=list(devices), **extra,
    )  # fmt: skip
    key = put_object_for(heartbeat)
    answer = lambda_handler(sqs_event(s3_notification(names().bucket, key)), FakeLambdaContext())
    assert answer["batchItemFailures"] == []


_NAMES: list[ResourceNames] = []


def names() -> ResourceNames:
    return _NAMES[-1]


def put_object_for(heartbeat: AgentHeartbeat) -> str:
    return put_object(names(), heartbeat_object_key(heartbeat), heartbeat.model_dump_json().encode())


def alerts(api: Client, state: str = "open", clinic: str = "demo") -> list[dict[str, Any]]:
    response = api.http.get(f"/alerts?state={state}", headers=bearer(clinic, Role.NURSE))
    assert response.status_code == 200, response.body
    return list(response.json_body["items"])


def event_types() -> list[str]:
    return [event.type for event in events_repo.after("demo", None, limit=100, next_token=None).items]


def oct_seen(at: datetime | None, **extra: Any) -> DeviceActivity:
    return DeviceActivity(source="oct", kind="folder", last_seen_at=at, items=1, **extra)


def test_a_silent_agent_raises_one_alert_resolved_by_its_next_heartbeat(cloud: ResourceNames, api: Client) -> None:
    _NAMES.append(cloud)
    start = NOW - timedelta(minutes=20)
    beat(start)
    assert fleet.evaluate(start + timedelta(minutes=5)) == {"agents": 1, "opened": 0, "resolved": 0}
    assert fleet.evaluate(start + timedelta(minutes=11)) == {"agents": 1, "opened": 1, "resolved": 0}
    assert fleet.evaluate(start + timedelta(minutes=12))["opened"] == 0  # still the same alert
    [alert] = alerts(api)
    assert (alert["kind"], alert["agent_id"], alert["silent_after_seconds"]) == ("agent_silent", "agent-1", 600)
    assert "agent.silent" in event_types()

    beat(NOW - timedelta(minutes=1))  # it speaks again: resolved at once, not at the next evaluation
    assert alerts(api) == []
    [resolved] = alerts(api, "resolved")
    assert resolved["id"] == alert["id"] and resolved["resolved_at"] is not None
    assert "agent.resumed" in event_types()
    assert alerts(api, clinic="other-clinic") == [] and alerts(api, "resolved", clinic="other-clinic") == []


def test_a_device_is_silent_past_what_its_history_taught_and_not_before(cloud: ResourceNames, api: Client) -> None:
    _NAMES.append(cloud)
    first = NOW - timedelta(hours=9, minutes=5)
    for hours in (0, 2, 4, 6):  # an OCT used every 2 hours: 3 gaps learned, threshold 1.5 x 2 h = 3 h
        seen = first + timedelta(hours=hours)
        beat(seen + timedelta(seconds=30), oct_seen(seen), started_at=first)
    beat(NOW - timedelta(minutes=1), oct_seen(first + timedelta(hours=6)), started_at=first)
    assert fleet.evaluate(first + timedelta(hours=8, minutes=59))["opened"] == 0  # 2 h 59 min: in its rhythm
    assert fleet.evaluate(NOW)["opened"] == 1  # 3 h 5 min
    [alert] = alerts(api)
    assert (alert["kind"], alert["source"], alert["silent_after_seconds"]) == ("device_silent", "oct", 3 * 3600)
    assert alert["last_seen_at"] == (first + timedelta(hours=6)).isoformat().replace("+00:00", "Z")

    beat(NOW, oct_seen(NOW - timedelta(seconds=20)), started_at=first)
    assert alerts(api) == [] and [a["kind"] for a in alerts(api, "resolved")] == ["device_silent"]
    assert {"device.silent", "device.resumed"} <= set(event_types())


def test_a_configured_source_never_heard_from_is_silent_from_the_agent_start(cloud: ResourceNames, api: Client) -> None:
    _NAMES.append(cloud)
    started = NOW - timedelta(minutes=45)
    beat(NOW - timedelta(minutes=1), oct_seen(None, expect_every_minutes=30), started_at=started)
    assert handler({}) == {"agents": 1, "opened": 1, "resolved": 0}  # the scheduled Lambda's entry point
    [alert] = alerts(api)
    assert (alert["kind"], alert["silent_after_seconds"], alert["last_seen_at"]) == ("device_silent", 1800, None)


def test_a_silent_agent_says_nothing_new_of_its_devices_and_keeps_their_alerts(cloud: ResourceNames) -> None:
    _NAMES.append(cloud)
    started = NOW - timedelta(hours=3)
    beat(NOW - timedelta(hours=2), oct_seen(None, expect_every_minutes=30), started_at=started)
    assert fleet.evaluate(NOW - timedelta(hours=2) + timedelta(minutes=5))["opened"] == 1  # the device
    assert fleet.evaluate(NOW) == {"agents": 1, "opened": 1, "resolved": 0}  # the agent; the device's stays open
    assert sorted(a.kind for a in fleet.alerts(_scope(), "open", limit=10, next_token=None).items) == [
        "agent_silent", "device_silent"]  # fmt: skip


def _scope() -> Any:
    from chalicelib.services.scope import Scope

    return Scope.system("demo", "test")


def test_agents_show_version_uptime_spool_age_errors_and_each_device(cloud: ResourceNames, api: Client) -> None:
    _NAMES.append(cloud)
    started = NOW - timedelta(hours=2)
    beat(NOW - timedelta(seconds=30), oct_seen(NOW - timedelta(minutes=3)), started_at=started,
         oldest_pending_at=NOW - timedelta(minutes=7, seconds=30), errors_by_kind={"unknown_format": 2},
         pending_bytes=4096)  # fmt: skip
    response = api.http.get("/agents", headers=bearer("demo", Role.NURSE))
    assert response.status_code == 200, response.body
    [agent] = response.json_body["items"]
    assert agent["version"] == "0.9.0" and agent["silent"] is False and agent["open_alerts"] == 0
    assert agent["uptime_seconds"] == 2 * 3600 - 30 and agent["oldest_pending_age_seconds"] == 7 * 60
    assert agent["errors_by_kind"] == {"unknown_format": 2} and agent["pending_bytes"] == 4096
    assert agent["counts"] == {"parsed": 2} and agent["interval_seconds"] == 60
    [device] = agent["devices"]
    assert (device["source"], device["kind"], device["items"]) == ("oct", "folder", 1)
