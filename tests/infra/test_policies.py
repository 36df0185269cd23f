"""One least-privilege IAM policy per function, generated from the tables each uses: the API cannot touch the
ingest queue or bucket, neither role can change or delete an audit entry, and no resource is a wildcard."""

from __future__ import annotations

import fnmatch
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.db import audit as audit_repo
from chalicelib.resources import TABLE_KEYS
from chalicelib.services import audit
from infra.policies import (
    AUDIT_DENIED,
    FUNCTION_TABLES,
    JWT_SECRET_PARAMETER,
    policies,
    policy_file,
    table_logical_id,
)
from infra.template import CHALICE_DIR, build_template, write_policies

POLICIES = policies(FUNCTION_TABLES)


def _logical_id(reference: Any) -> str:
    """The logical id a policy resource refers to (`Fn::GetAtt [X, Arn]` → X; `${X.Arn}/suffix` → X/suffix)."""
    if "Fn::GetAtt" in reference:
        return str(reference["Fn::GetAtt"][0])
    logical, _, rest = reference["Fn::Sub"].removeprefix("${").partition(".Arn}")
    return logical + rest


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return any(fnmatch.fnmatch(action, a) for a in actions) and any(
        fnmatch.fnmatch(resource, _logical_id(r)) for r in resources
    )


def allowed(function: str, action: str, resource: str) -> bool:
    """IAM's rule for one role: an explicit Deny wins, then any Allow (conditions not evaluated here)."""
    statements = POLICIES[function]["Statement"]
    if any(s["Effect"] == "Deny" and _matches(s, action, resource) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, resource) for s in statements)


AUDIT = table_logical_id("audit")


def test_every_table_is_used_by_some_function_and_every_name_is_known() -> None:
    used = {key for tables in FUNCTION_TABLES.values() for key in tables}
    assert used == set(TABLE_KEYS)
    with pytest.raises(ValueError, match="unknown tables"):
        policies({"api": ["no_such_table"]})


@pytest.mark.parametrize("action", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"])
def test_only_ingest_consumes_the_queue(action: str) -> None:
    assert allowed("ingest", action, "IngestQueue")
    assert not allowed("api", action, "IngestQueue")


def test_only_ingest_reads_the_announced_objects_and_nothing_else_of_the_bucket() -> None:
    for key in ("envelopes/c/e.json", "quarantine/c/q.json", "agents/c/a.json"):
        assert allowed("ingest", "s3:GetObject", f"IngestBucket/{key}")
        assert not allowed("api", "s3:GetObject", f"IngestBucket/{key}")
    assert not allowed("ingest", "s3:GetObject", "IngestBucket/raw/c/x.xml")
    assert not any(allowed(f, "s3:PutObject", "IngestBucket/envelopes/x") for f in POLICIES)


def test_only_the_api_publishes_agent_configurations_and_nothing_reads_them_back() -> None:
    assert allowed("api", "s3:PutObject", "IngestBucket/config/c/a.json")
    assert not any(allowed(f, "s3:PutObject", "IngestBucket/config/c/a.json") for f in POLICIES if f != "api")
    assert not any(allowed(f, "s3:GetObject", "IngestBucket/config/c/a.json") for f in POLICIES)
    assert not allowed("api", "s3:PutObject", "IngestBucket/agents/c/a/heartbeat.json")


@pytest.mark.parametrize("function", sorted(FUNCTION_TABLES))
@pytest.mark.parametrize("action", [*AUDIT_DENIED, "dynamodb:Query", "dynamodb:GetItem"])
def test_the_audit_log_is_append_only_for_every_role(function: str, action: str) -> None:
    assert not allowed(function, f"{action}", AUDIT)
    assert allowed(function, "dynamodb:PutItem", AUDIT)


def test_the_audit_put_may_write_only_an_entry_s_attributes_and_never_read_the_old_one() -> None:
    [append] = [s for s in POLICIES["api"]["Statement"] if s["Sid"] == "AppendAudit"]
    assert append["Action"] == ["dynamodb:PutItem"]
    assert append["Condition"]["StringEqualsIfExists"] == {"dynamodb:ReturnValues": "NONE"}
    written = append["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert {"pk", "sk", "actor", "entry", "at"} <= set(written)
    entry = audit_repo.to_item(audit.event("auth.login", clinic_id="demo", actor="system:test", at=datetime.now(UTC)))
    assert set(entry.serialize()) <= set(written)  # what the repository writes is what the role may write


def test_the_api_reads_and_writes_the_shared_tables_but_not_the_ingest_ledger() -> None:
    for key in ("clinical", "directory"):
        assert allowed("api", "dynamodb:Query", table_logical_id(key))
        assert allowed("api", "dynamodb:Query", f"{table_logical_id(key)}/index/gsi1")
        assert allowed("api", "dynamodb:PutItem", table_logical_id(key))
        assert allowed("api", "dynamodb:DeleteItem", table_logical_id(key))  # look-ups replaced, assignments undone
    for key in ("sessions", "login_throttle", "events"):
        assert allowed("api", "dynamodb:UpdateItem", table_logical_id(key)) or allowed(
            "api", "dynamodb:PutItem", table_logical_id(key)
        )
    assert not allowed("api", "dynamodb:GetItem", table_logical_id("ingest_ledger"))
    assert not allowed("api", "dynamodb:DeleteItem", table_logical_id("sessions"))


def test_ingest_writes_device_data_may_batch_only_clinical_and_never_deletes() -> None:
    assert allowed("ingest", "dynamodb:BatchWriteItem", table_logical_id("clinical"))
    assert not allowed("ingest", "dynamodb:BatchWriteItem", table_logical_id("directory"))
    assert allowed("ingest", "dynamodb:PutItem", table_logical_id("ingest_ledger"))
    assert not allowed("ingest", "dynamodb:GetItem", table_logical_id("sessions"))
    assert not allowed("ingest", "dynamodb:GetItem", table_logical_id("login_throttle"))
    assert not any(allowed("ingest", "dynamodb:DeleteItem", table_logical_id(k)) for k in TABLE_KEYS)
    assert not any(allowed(f, "dynamodb:DeleteItem", table_logical_id("audit")) for f in POLICIES)


def test_no_wildcard_account_region_or_resource_and_each_role_logs_to_its_own_group() -> None:
    text = json.dumps(POLICIES)
    assert '"*"' not in text and ":*:*" not in text and "logs:CreateLogGroup" not in text
    assert allowed("api", "logs:PutLogEvents", "ApiLogGroup") and not allowed(
        "api", "logs:PutLogEvents", "IngestLogGroup"
    )


def test_every_resource_a_policy_names_is_in_the_template() -> None:
    template = build_template("prod")
    for document in POLICIES.values():
        for statement in document["Statement"]:
            for reference in statement["Resource"]:
                if "Fn::Sub" in reference and reference["Fn::Sub"].startswith("arn:${AWS::Partition}:"):
                    continue  # an ARN built from the account and region (the SSM parameter, KMS keys)
                assert _logical_id(reference).split("/")[0] in template["Resources"]
    assert JWT_SECRET_PARAMETER in template["Parameters"]


def test_only_the_api_may_read_the_jwt_key_and_decrypt_it_only_through_ssm() -> None:
    statements = {s["Sid"]: s for s in POLICIES["api"]["Statement"]}
    [parameter] = statements["ReadJwtSecret"]["Resource"]
    assert statements["ReadJwtSecret"]["Action"] == ["ssm:GetParameter"]
    assert parameter == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${JwtSecretParameter}"
    }
    decrypt = statements["DecryptJwtSecretThroughSsm"]
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert decrypt["Condition"]["StringEquals"] == {
        "kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
        "kms:EncryptionContext:PARAMETER_ARN": parameter,
    }
    ingest = json.dumps(POLICIES["ingest"])
    assert "ssm:" not in ingest and "kms:" not in ingest


def test_the_policy_files_chalice_reads_are_the_generated_ones(tmp_path: Path) -> None:
    """`make infra` writes them; a hand edit (or a table added without regenerating) fails here."""
    for path in write_policies(tmp_path):
        assert json.loads((CHALICE_DIR / path.name).read_text()) == json.loads(path.read_text())


def test_every_deployed_stage_gives_each_function_its_own_policy() -> None:
    config = json.loads((CHALICE_DIR / "config.json").read_text())
    assert {"local", "dev", "prod"} <= set(config["stages"])  # `chalice deploy`'s default stage is defined
    for name, stage in config["stages"].items():
        assert stage["environment_variables"]["MEDFLOW_STAGE"] == name
        if name == "local":
            continue
        assert stage["autogen_policy"] is False
        functions = stage["lambda_functions"]
        assert functions["api_handler"]["iam_policy_file"] == policy_file("api")
        assert functions["ingest"]["iam_policy_file"] == policy_file("ingest")
