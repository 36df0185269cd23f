"""Resource definitions and `ensure_resources`: idempotent, secure defaults, and PynamoDB models matching the specs."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib import domains
from chalicelib.db.store import bound
from chalicelib.resources import (
    DLQ_MAX_RECEIVE_COUNT,
    NOTIFY_PREFIXES,
    TABLES,
    ResourceNames,
    table_definition,
    table_spec,
)
from localdev.bootstrap import ensure_resources
from tests.cloud.builders import REGION, STAGE

ALL_MODELS = domains.items()


def test_names_are_stage_prefixed() -> None:
    names = ResourceNames.for_stage("prod")
    assert names.bucket == "medflow-prod-ingest"
    assert names.dlq == "medflow-prod-ingest-dlq"
    assert set(names.tables.values()) == {f"medflow-prod-{spec.key}" for spec in TABLES}
    assert ResourceNames.for_stage("prod", bucket="acme-medflow-prod").bucket == "acme-medflow-prod"


def test_ensure_resources_is_idempotent_and_secure(cloud: ResourceNames) -> None:
    assert ensure_resources(None, STAGE, REGION) == cloud  # second run: no error, same names
    s3 = boto3.client("s3", region_name=REGION)
    rules = s3.get_bucket_encryption(Bucket=cloud.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=cloud.bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=cloud.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    queues = s3.get_bucket_notification_configuration(Bucket=cloud.bucket)["QueueConfigurations"]
    prefixes = {q["Filter"]["Key"]["FilterRules"][0]["Value"] for q in queues if q["QueueArn"].endswith(cloud.queue)}
    assert prefixes == set(NOTIFY_PREFIXES)
    # raw/ goes to the thumbnails queue only (previews of device images); the scans bucket announces scans/
    previews = {
        q["Filter"]["Key"]["FilterRules"][0]["Value"] for q in queues if q["QueueArn"].endswith(cloud.thumbnails_queue)
    }
    assert previews == {"raw/"}
    scans = s3.get_bucket_notification_configuration(Bucket=cloud.scans_bucket)["QueueConfigurations"]
    assert [q["QueueArn"].rsplit(":", 1)[1] for q in scans] == [cloud.thumbnails_queue]
    assert s3.get_bucket_cors(Bucket=cloud.scans_bucket)["CORSRules"][0]["AllowedOrigins"] == ["http://localhost:5173"]
    assert all(s3.get_public_access_block(Bucket=cloud.scans_bucket)["PublicAccessBlockConfiguration"].values())


def test_queue_redrives_to_the_dlq_and_admits_only_the_bucket(cloud: ResourceNames) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName=cloud.queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(cloud.dlq)
    assert int(redrive["maxReceiveCount"]) == DLQ_MAX_RECEIVE_COUNT
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{cloud.bucket}"


def test_tables_exist_with_point_in_time_recovery(cloud: ResourceNames) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for name in cloud.tables.values():
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_pynamodb_models_match_the_table_specs(cloud: ResourceNames, model: type) -> None:
    """The specs are what gets deployed; the models must describe exactly those keys and indexes."""
    bound()
    spec = table_spec(model.TABLE)  # type: ignore[attr-defined]
    schema = model._get_schema()  # type: ignore[attr-defined]
    definition = table_definition(spec, "x")
    assert {k["AttributeName"]: k["KeyType"] for k in schema["key_schema"]} == {
        k["AttributeName"]: k["KeyType"] for k in definition["KeySchema"]
    }
    model_indexes = {i["index_name"] for i in schema["global_secondary_indexes"] + schema["local_secondary_indexes"]}
    # A model declares the indexes it queries; the table may carry more (shared by other domains).
    assert model_indexes <= {index.name for index in spec.indexes}


def test_every_spec_has_a_model() -> None:
    assert {m.TABLE for m in ALL_MODELS} == {spec.key for spec in TABLES}
    assert domains.tables() == TABLES


def test_no_scan_on_any_path() -> None:
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "cloud"
    needle = "." + "scan("  # spelled in two parts so this file does not trip the same check
    offenders = [p for p in source.rglob("*.py") if needle in p.read_text()]
    assert offenders == []
