"""`medflow-edge doctor` against the moto server with the bucket's real notifications: the DLQ stays empty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from chalicelib import aws
from chalicelib.resources import DLQ_MAX_RECEIVE_COUNT, ResourceNames
from chalicelib.settings import Settings, use_settings
from edge_agent.commands.doctor import run_doctor
from edge_agent.config import parse_config
from edge_agent.spool.uploader import make_s3_client
from localdev.bootstrap import ensure_resources
from localdev.router import Router, default_handler
from tests.cloud.builders import JWT_SECRET, REGION

pytestmark = pytest.mark.integration
STAGE = "doctorprobe"  # its own queues: messages other tests leave cannot reach this DLQ


@pytest.fixture
def stage(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ResourceNames]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    use_settings(Settings(stage=STAGE, region=REGION, endpoint_url=aws_endpoint, jwt_secret=JWT_SECRET))
    aws.reset_clients()
    yield ensure_resources(aws_endpoint, STAGE, REGION)
    use_settings(None)
    aws.reset_clients()


def _depth(endpoint: str, queue: str) -> int:
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_a_doctor_run_leaves_the_dlq_empty(stage: ResourceNames, aws_endpoint: str, tmp_path: Path) -> None:
    config = parse_config(
        {
            "agent": {"clinic_id": "demo", "agent_id": "frontdesk", "data_dir": str(tmp_path / "data")},
            "cloud": {"bucket": stage.bucket, "region": REGION, "endpoint_url": aws_endpoint},
        }
    )
    report = run_doctor(config, "agent.toml", make_s3_client(config.cloud))
    [write] = [c for c in report.checks if c.name == "s3 write"]
    assert write.status == "ok" and "probes/demo/frontdesk/doctor.json" in write.message
    # An agent from before the fix still writes its probe beside its heartbeat: acknowledged, not retried.
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws_endpoint)
    legacy = json.dumps({"probe": "medflow-edge doctor", "version": "0.9", "at": "2026-11-30T10:00:00+00:00"})
    s3.put_object(Bucket=stage.bucket, Key="agents/demo/old-pc/doctor.json", Body=legacy.encode())

    keys: list[str] = []
    ingest = default_handler()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        for record in event["Records"]:
            keys.extend(unquote_plus(r["s3"]["object"]["key"]) for r in json.loads(record["body"]).get("Records", []))
        return ingest(event, context)

    router = Router(stage_settings(aws_endpoint), handler=handler, retry_after_seconds=0)
    failed = 0
    for _ in range(DLQ_MAX_RECEIVE_COUNT + 2):  # enough receives for a rejected message to reach the DLQ
        failed += router.poll_once(wait_seconds=1)[1]
    assert keys == ["agents/demo/old-pc/doctor.json"]  # the doctor's own probe notified no one
    assert failed == 0
    assert _depth(aws_endpoint, stage.dlq) == 0 and _depth(aws_endpoint, stage.queue) == 0


def stage_settings(endpoint: str) -> Settings:
    return Settings(stage=STAGE, region=REGION, endpoint_url=endpoint, jwt_secret=JWT_SECRET)
