"""The same resources and the same edge uploader against LocalStack (runs only when an endpoint answers).

LocalStack validates what moto lets pass (checksums, presigned URL signatures); DynamoDB is not
available offline there, so these cover S3 and SQS: bucket, queue + DLQ, the bucket → queue
notification, and a real agent upload landing as an SQS event for the ingest handler.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.config import CloudSection
from edge_agent.identity import Identity
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.spool import Spool
from edge_agent.spool.uploader import ObjectWriter, Uploader, make_s3_client
from localdev.bootstrap import ensure_resources

pytestmark = [pytest.mark.localstack, pytest.mark.integration]

TOPASCOPE = "ophthalmic/ukinoki__Rufus__RODENSTOCK_TopaScope_TOMEY_TOP-1000_tonometer.xml"


def _event_keys(sqs: Any, queue_url: str, want: int, timeout: float = 20) -> list[str]:
    keys: list[str] = []
    deadline = time.monotonic() + timeout
    while len(keys) < want and time.monotonic() < deadline:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for msg in resp.get("Messages", []):
            body = json.loads(msg["Body"])
            keys += [unquote_plus(r["s3"]["object"]["key"]) for r in body.get("Records", [])]
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    return keys


def test_agent_upload_reaches_the_ingest_queue(localstack_url: str, corpus_dir: Path, tmp_path: Path) -> None:
    stage = "ls" + uuid.uuid4().hex[:8]
    names = ensure_resources(localstack_url, stage, "us-east-1", include_tables=False)
    sqs = boto3.client("sqs", endpoint_url=localstack_url, region_name="us-east-1")
    queue_url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]

    cloud = CloudSection(bucket=names.bucket, endpoint_url=localstack_url)
    spool = Spool(tmp_path / "spool")
    intake = Intake(spool, Identity("demo", "ls-agent"), max_spool_bytes=10**9, adapters=ALL_ADAPTERS)
    uploader = Uploader(spool, ObjectWriter(make_s3_client(cloud), cloud))
    result = intake.submit((corpus_dir / TOPASCOPE).read_bytes(), Origin("topascope.xml", "folder", "file:///t.xml"))
    assert not result.quarantined
    for _ in range(10):
        uploader.run_once()
        if not spool.ledger.outbox.due(float("inf")):
            break
    spool.close()

    day = datetime.now(UTC).strftime("%Y/%m/%d")
    envelope_key = f"envelopes/demo/{day}/{result.sha256}.json"
    assert envelope_key in _event_keys(sqs, queue_url, want=1)
    s3 = boto3.client("s3", endpoint_url=localstack_url, region_name="us-east-1")
    head = s3.head_object(Bucket=names.bucket, Key=envelope_key, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256"
    assert head.get("ChecksumSHA256")
