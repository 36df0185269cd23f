"""The deployable template: built offline from the same resource definitions as the local stack,
valid CloudFormation (cfn-lint), and carrying the properties a clinic's data needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.resources import NOTIFY_PREFIXES, TABLES, ResourceNames
from infra.template import build_template


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def test_standalone_template_passes_cfn_lint(tmp_path: Path) -> None:
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(build_template("prod", ingest_function=None)), encoding="utf-8")
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True, timeout=120
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_names_match_what_the_local_stack_uses() -> None:
    template = build_template("prod")
    names = ResourceNames.for_stage("prod")
    tables = {t["Properties"]["TableName"] for t in _of_type(template, "AWS::DynamoDB::Table").values()}
    assert tables == set(names.tables.values()) and len(tables) == len(TABLES)
    assert template["Resources"]["IngestBucket"]["Properties"]["BucketName"] == names.bucket
    assert template["Resources"]["IngestQueue"]["Properties"]["QueueName"] == names.queue
    assert build_template("prod", bucket="clinic-x-ingest")["Resources"]["IngestBucket"]["Properties"][
        "BucketName"
    ] == ("clinic-x-ingest")


def test_bucket_is_encrypted_versioned_private_and_notifies_the_queue() -> None:
    bucket = build_template("prod")["Resources"]["IngestBucket"]
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    configurations = props["NotificationConfiguration"]["QueueConfigurations"]
    notified = [
        c["Filter"]["S3Key"]["Rules"][0]["Value"]
        for c in configurations
        if c["Queue"]["Fn::GetAtt"][0] == "IngestQueue"
    ]
    assert notified == list(NOTIFY_PREFIXES) and "raw/" not in notified
    # raw/ goes to the thumbnails queue only (device image previews)
    previews = [
        c["Filter"]["S3Key"]["Rules"][0]["Value"]
        for c in configurations
        if c["Queue"]["Fn::GetAtt"][0] == "ThumbnailsQueue"
    ]
    assert previews == ["raw/"]
    assert (
        bucket["DependsOn"] == ["IngestQueuePolicy", "ThumbnailsQueuePolicy"] and bucket["DeletionPolicy"] == "Retain"
    )


def test_queue_has_a_dlq_and_only_the_bucket_may_send() -> None:
    resources = build_template("prod")["Resources"]
    redrive = resources["IngestQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    statement = resources["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert (
        statement["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{ResourceNames.for_stage('prod').bucket}"
    )
    assert resources["IngestDeadLetterAlarm"]["Properties"]["Threshold"] == 0


def test_tables_keep_history_and_survive_stack_deletion() -> None:
    for table in _of_type(build_template("prod"), "AWS::DynamoDB::Table").values():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["KeySchema"][0] == {"AttributeName": "pk", "KeyType": "HASH"}


def test_ingest_reports_partial_batch_failures() -> None:
    mapping = build_template("prod")["Resources"]["IngestEventSourceMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["FunctionName"] == {"Ref": "Ingest"}
    assert "IngestEventSourceMapping" not in build_template("prod", ingest_function=None)["Resources"]


def test_api_gateway_answers_unknown_routes_404_in_the_api_error_shape() -> None:
    """Deployed, an unknown route is API Gateway's MISSING_AUTHENTICATION_TOKEN: mapped to 404 `not_found`."""
    resources = build_template("prod")["Resources"]
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in resources.values()
                 if r.get("Type") == "AWS::ApiGateway::GatewayResponse"}  # fmt: skip
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404" and missing["RestApiId"] == {"Ref": "RestAPI"}
    assert '"code": "not_found"' in missing["ResponseTemplates"]["application/json"].replace('":"', '": "')
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED"} <= set(responses)


def test_the_api_is_told_the_portal_address_and_where_its_secrets_are() -> None:
    """Invite links name the deployed portal (not the local default); the keys are SSM parameter names."""
    template = build_template("prod")
    variables = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["MEDFLOW_PORTAL_URL"] == {"Ref": "PortalUrl"}
    assert variables["MEDFLOW_JWT_SECRET_PARAM"] == {"Ref": "JwtSecretParameter"}
    assert variables["MEDFLOW_ANTHROPIC_KEY_PARAM"] == {"Ref": "AnthropicKeyParameter"}
    parameters = template["Parameters"]
    assert parameters["PortalUrl"]["Default"].startswith("https://")
    assert parameters["AnthropicKeyParameter"]["Default"] == "/medflow/prod/anthropic-api-key"
