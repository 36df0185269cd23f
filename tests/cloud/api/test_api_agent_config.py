"""Remote configuration of edge agents over the API (in-process moto): GET and PUT /agents/{agent_id}/config, checked
with the agent's own schema (422 naming the key), versioned with a conditional write (409 on a stale version),
published to S3 where the agent polls, audited and announced; the agent's heartbeat says what it runs on."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import boto3
import botocore.endpoint
import pytest
from chalice.test import Client

from chalicelib.db import events as events_repo
from chalicelib.errors import Conflict
from chalicelib.events.ingest import lambda_handler
from chalicelib.resources import ResourceNames
from chalicelib.services import agent_config
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from localdev.router import FakeLambdaContext
from shared_models import ConfigRejection, PublishedAgentConfig, RemoteConfig
from shared_models.s3keys import agent_config_key
from tests.cloud.builders import (
    RECEIVED,
    REGION,
    bearer,
    heartbeat_object_key,
    make_heartbeat,
    put_object,
    s3_notification,
    sqs_event,
)

CLINIC, AGENT = "demo", "frontdesk-pc"
INBOX = {"kind": "folder", "name": "inbox", "path": "/srv/medflow/inbox", "patient_id_patterns": ["{patient_id}/*"]}
LAB = {"kind": "mllp", "name": "lab", "host": "0.0.0.0", "port": 2575}


def beat(names: ResourceNames, clinic: str = CLINIC, agent: str = AGENT, minute: int = 0, **extra: Any) -> None:
    heartbeat = make_heartbeat(clinic_id=clinic, agent_id=agent, minute=minute).model_copy(update=extra)
    key = put_object(names, heartbeat_object_key(heartbeat), heartbeat.model_dump_json().encode())
    answer = lambda_handler(sqs_event(s3_notification(names.bucket, key)), FakeLambdaContext())
    assert answer["batchItemFailures"] == []


def put(api: Client, body: dict[str, Any], agent: str = AGENT, role: Role = Role.ADMIN, clinic: str = CLINIC) -> Any:
    return api.http.put(
        f"/agents/{agent}/config",
        headers={**bearer(clinic, role), "Content-Type": "application/json"},
        body=json.dumps(body),
    )


def get(api: Client, agent: str = AGENT, role: Role = Role.ADMIN, clinic: str = CLINIC) -> Any:
    return api.http.get(f"/agents/{agent}/config", headers=bearer(clinic, role))


def published(names: ResourceNames, agent: str = AGENT) -> PublishedAgentConfig | None:
    s3 = boto3.client("s3", region_name=REGION)
    try:
        body = s3.get_object(Bucket=names.bucket, Key=agent_config_key(CLINIC, agent))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return PublishedAgentConfig.model_validate_json(body)


def test_an_admin_publishes_a_configuration_the_agent_can_read(cloud: ResourceNames, api: Client) -> None:
    beat(cloud)
    before = get(api)
    assert before.status_code == 200, before.body
    assert before.json_body["version"] == 0 and before.json_body["config"] is None
    assert before.json_body["key"] == "config/demo/frontdesk-pc.json"

    answer = put(api, {"expected_version": 0, "config": {"sources": [INBOX, LAB], "heartbeat_seconds": 30}})
    assert answer.status_code == 200, answer.body
    assert answer.json_body["version"] == 1 and answer.json_body["updated_by"] == "user:u-test"

    document = published(cloud)
    assert document is not None and (document.clinic_id, document.agent_id, document.version) == (CLINIC, AGENT, 1)
    config = RemoteConfig.model_validate(document.config)  # what the agent will validate: the same schema
    assert [s.name for s in config.sources] == ["inbox", "lab"] and config.heartbeat_seconds == 30
    assert get(api).json_body["config"] == document.config

    second = put(api, {"expected_version": 1, "config": {"sources": [INBOX]}})
    assert second.status_code == 200 and second.json_body["version"] == 2
    assert published(cloud).version == 2  # type: ignore[union-attr]
    events = [e for e in events_repo.after(CLINIC, None, limit=100, next_token=None).items]
    assert [(e.type, e.subject) for e in events if e.type == "agent.config_published"] == [
        ("agent.config_published", {"agent_id": AGENT, "version": "1"}),
        ("agent.config_published", {"agent_id": AGENT, "version": "2"}),
    ]
    [agent] = api.http.get("/agents", headers=bearer(CLINIC, Role.MANAGER)).json_body["items"]
    assert agent["config_published_version"] == 2 and agent["config_version"] is None  # not applied yet


@pytest.mark.parametrize(
    ("config", "field", "said"),
    [
        ({"sources": [{**INBOX, "settle_seconds": -1}]}, "config.sources.0.settle_seconds", "greater than 0"),
        ({"sources": [{**INBOX, "setle_seconds": 2}]}, "config.sources.0.setle_seconds", "Extra inputs"),
        ({"sources": [{**INBOX, "kind": "ftp"}]}, "config.sources.0.kind", "must be one of folder"),
        ({"sources": [{**INBOX, "path": "inbox"}]}, "config.sources.0", "absolute path"),
        ({"sources": [INBOX, {**LAB, "name": "inbox"}]}, "config.sources", "used twice"),
        ({"sources": [{**LAB, "port": 70000}]}, "config.sources.0.port", "less than or equal to 65535"),
        ({"sources": [INBOX], "data_dir": "/tmp"}, "config.data_dir", "Extra inputs"),
        ({"heartbeat_seconds": 10}, "config.sources", "Field required"),
    ],
)
def test_a_bad_configuration_is_a_422_naming_the_key_and_changes_nothing(
    cloud: ResourceNames, api: Client, config: dict[str, Any], field: str, said: str
) -> None:
    beat(cloud)
    answer = put(api, {"expected_version": 0, "config": config})
    assert answer.status_code == 422, answer.body
    assert answer.json_body["field"] == field and said in answer.json_body["message"], answer.json_body
    assert answer.json_body["code"] == "invalid_config"
    assert get(api).json_body["version"] == 0 and published(cloud) is None


def test_a_stale_version_is_a_409_and_the_winner_stays_published(cloud: ResourceNames, api: Client) -> None:
    beat(cloud)
    assert put(api, {"expected_version": 0, "config": {"sources": [INBOX]}}).status_code == 200
    late = put(api, {"expected_version": 0, "config": {"sources": [LAB]}})  # read version 0 before the first PUT
    assert late.status_code == 409, late.body
    assert (late.json_body["code"], late.json_body["field"]) == ("version_conflict", "expected_version")
    assert "version 1" in late.json_body["message"]
    ahead = put(api, {"expected_version": 5, "config": {"sources": [LAB]}})
    assert ahead.status_code == 409
    assert get(api).json_body["version"] == 1 and published(cloud).config["sources"][0]["name"] == "inbox"  # type: ignore[union-attr]


def race(scope: Scope, expected: int, *sources: dict[str, Any]) -> list[str]:
    """Each source's PUT from its own thread, all reading `expected`, released at once: winners' names, or 409."""
    start, outcomes = threading.Barrier(len(sources)), []

    def publish(source: dict[str, Any]) -> None:
        start.wait()
        try:
            agent_config.put(scope, AGENT, expected_version=expected, config={"sources": [source]})
            outcomes.append(source["name"])
        except Conflict:
            outcomes.append("409")

    racers = [threading.Thread(target=publish, args=(source,)) for source in sources]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    return outcomes


@pytest.mark.integration
def test_two_admins_racing_one_wins_the_other_gets_409(
    cloud_server: ResourceNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two PUTs read the same version and publish at once, ten times over, against the moto server. moto does not
    apply one TransactWriteItems atomically between concurrent requests (DynamoDB does): the lock gives each HTTP
    request that atomicity and nothing more (as in test_api_lab_concurrency.py)."""
    one_request_at_a_time = threading.Lock()
    send = botocore.endpoint.Endpoint._send

    def atomic_send(self: Any, request: Any) -> Any:
        with one_request_at_a_time:
            return send(self, request)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send", atomic_send)
    beat(cloud_server)
    scope = Scope.system(CLINIC, "user:racer")
    for expected in range(10):
        outcomes = race(scope, expected, INBOX, LAB)
        [winner] = [outcome for outcome in outcomes if outcome != "409"]
        assert len(outcomes) == 2
        stored = agent_config.get(scope, AGENT)
        assert stored.version == expected + 1 and stored.config == {"sources": [INBOX if winner == "inbox" else LAB]}
        assert published(cloud_server).version == expected + 1  # type: ignore[union-attr]


def test_unknown_and_other_clinics_agents_are_404(cloud: ResourceNames, api: Client) -> None:
    beat(cloud)
    beat(cloud, clinic="other-clinic", agent="elsewhere")
    assert get(api, agent="no-such-agent").status_code == 404
    assert get(api, agent="elsewhere").status_code == 404  # exists, in another clinic
    assert put(api, {"expected_version": 0, "config": {"sources": []}}, agent="elsewhere").status_code == 404
    assert get(api, agent="bad%20id").status_code == 422


def test_clinicians_may_not_configure_agents_managers_may(cloud: ResourceNames, api: Client) -> None:
    beat(cloud)
    assert get(api, role=Role.NURSE).status_code == 403
    assert put(api, {"expected_version": 0, "config": {"sources": []}}, role=Role.DOCTOR).status_code == 403
    assert put(api, {"expected_version": 0, "config": {"sources": []}}, role=Role.MANAGER).status_code == 200


def test_the_heartbeat_reports_the_applied_and_the_refused_version(cloud: ResourceNames, api: Client) -> None:
    beat(cloud)
    put(api, {"expected_version": 0, "config": {"sources": [INBOX]}})
    beat(cloud, minute=1, config_version=1)
    answer = get(api).json_body
    assert (answer["version"], answer["applied_version"], answer["rejected"]) == (1, 1, None)

    refused = ConfigRejection(version=2, error="sources[0].path: missing", at=RECEIVED + timedelta(minutes=2))
    beat(cloud, minute=2, config_version=1, config_error=refused)
    [agent] = api.http.get("/agents", headers=bearer(CLINIC, Role.NURSE)).json_body["items"]
    assert agent["config_version"] == 1 and agent["config_error"]["version"] == 2
    assert get(api).json_body["rejected"]["error"] == "sources[0].path: missing"

    beat(cloud, minute=3, config_version=3)  # a later version applied: the refusal is history
    [agent] = api.http.get("/agents", headers=bearer(CLINIC, Role.NURSE)).json_body["items"]
    assert agent["config_version"] == 3 and agent["config_error"] is None
