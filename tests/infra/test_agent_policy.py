"""The edge agent's credentials in the template: PutObject only, under its own clinic's and agent's prefixes, and
GetObject of its own published configuration alone."""

from __future__ import annotations

from datetime import UTC, datetime
from fnmatch import fnmatchcase

from infra.template import build_template
from shared_models.s3keys import (
    agent_config_key,
    assignment_key,
    envelope_key,
    heartbeat_key,
    probe_key,
    quarantine_key,
    raw_key,
)

ARN = "arn:aws:s3:::medflow-prod-ingest"
AT = datetime(2026, 12, 5, tzinfo=UTC)


def allowed(clinic: str, agent: str, action: str = "s3:PutObject") -> list[str]:
    """The resources of the policy's `action` as IAM evaluates them for a caller tagged clinic/agent."""
    statements = build_template("prod")["Resources"]["AgentPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert {s["Effect"] for s in statements} == {"Allow"}
    # One action per statement: PutObject, and GetObject of the configuration; no Delete, no List.
    assert sorted(a for s in statements for a in s["Action"]) == ["s3:GetObject", "s3:PutObject"]
    [statement] = [s for s in statements if s["Action"] == [action]]
    return [
        r["Fn::Sub"].replace("${IngestBucket.Arn}", ARN).replace("${!aws:PrincipalTag/clinic}", clinic)
        .replace("${!aws:PrincipalTag/agent}", agent)
        for r in statement["Resource"]
    ]  # fmt: skip


def may_put(key: str, clinic: str = "c1", agent: str = "a1") -> bool:
    return any(fnmatchcase(f"{ARN}/{key}", pattern) for pattern in allowed(clinic, agent))


def may_get(key: str, clinic: str = "c1", agent: str = "a1") -> bool:
    return any(fnmatchcase(f"{ARN}/{key}", pattern) for pattern in allowed(clinic, agent, "s3:GetObject"))


def test_an_agent_may_put_every_key_it_writes_for_its_clinic() -> None:
    sha = "a" * 64
    for key in (raw_key("c1", AT, sha, ".xml"), envelope_key("c1", AT, sha), quarantine_key("c1", sha),
                assignment_key("c1", sha, "b" * 64), heartbeat_key("c1", "a1"), probe_key("c1", "a1")):  # fmt: skip
        assert may_put(key), key


def test_nothing_under_another_clinic_or_another_agent() -> None:
    sha = "a" * 64
    assert not may_put(envelope_key("c2", AT, sha))
    assert not may_put(raw_key("c2", AT, sha))
    assert not may_put(heartbeat_key("c1", "a2"))  # a colleague agent's heartbeat
    assert not may_put(heartbeat_key("c2", "a1"))
    assert not may_put("envelopes/c1")  # nothing outside the layout either


def test_agents_join_a_group_or_assume_the_role_with_both_tags() -> None:
    resources = build_template("prod")["Resources"]
    assert resources["AgentGroup"]["Properties"]["ManagedPolicyArns"] == [{"Ref": "AgentPolicy"}]
    role = resources["AgentRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [{"Ref": "AgentPolicy"}]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert set(trust["Action"]) == {"sts:AssumeRole", "sts:TagSession"}
    assert trust["Condition"]["StringLike"] == {"aws:RequestTag/clinic": "?*", "aws:RequestTag/agent": "?*"}


def test_an_agent_reads_only_its_own_configuration_and_cannot_write_it() -> None:
    assert may_get(agent_config_key("c1", "a1"))
    assert not may_get(agent_config_key("c1", "a2"))  # a colleague agent's
    assert not may_get(agent_config_key("c2", "a1"))  # another clinic's agent of the same name
    assert not may_get(envelope_key("c1", AT, "a" * 64)) and not may_get(heartbeat_key("c1", "a1"))
    assert not may_put(agent_config_key("c1", "a1"))  # the cloud publishes it, never the agent
