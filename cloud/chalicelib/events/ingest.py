"""The `ingest` Lambda: SQS batch of S3 notifications → services.ingest, with partial batch failures.

Wired in app.py as `@app.lambda_function(name="ingest")`; infra creates the SQS event source mapping
with ReportBatchItemFailures (Chalice's on_sqs_message cannot). Failed records stay on the queue,
are retried, and reach the DLQ after `resources.DLQ_MAX_RECEIVE_COUNT` receives.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import RejectedMessage
from chalicelib.events import s3_notification
from chalicelib.services import ingest
from chalicelib.settings import get_settings

MAX_OBJECT_BYTES = 5 * 1024 * 1024  # envelopes are small JSON; anything bigger is not one of ours

logger = Logger(service="medflow-ingest")
# Report failures per record instead of raising when the whole batch fails: same retry effect, clearer logs.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _fetch(bucket: str, key: str, version_id: str | None) -> bytes:
    s3 = aws.client("s3", get_settings())
    extra = {"VersionId": version_id} if version_id and version_id != "null" else {}
    try:
        response = s3.get_object(Bucket=bucket, Key=key, **extra)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"NoSuchKey", "NoSuchVersion", "404"}:
            raise RejectedMessage(f"s3://{bucket}/{key} does not exist", code="missing_object") from None
        raise  # throttling, network: transient, the retry may succeed
    if int(response.get("ContentLength") or 0) > MAX_OBJECT_BYTES:
        raise RejectedMessage(f"s3://{bucket}/{key} is larger than {MAX_OBJECT_BYTES} bytes", code="too_large")
    body: bytes = response["Body"].read()
    return body


def record_handler(record: SQSRecord) -> None:
    """One SQS message = one S3 notification, usually with one record. Raising marks the message failed."""
    notification = s3_notification.parse(record.body)
    if notification.event == s3_notification.TEST_EVENT:
        logger.info("skipped s3:TestEvent", extra={"message_id": record.message_id})
        return
    expected_bucket = get_settings().names.bucket
    for s3_record in notification.records:
        bucket, key = s3_record.s3.bucket.name, s3_record.key
        if bucket != expected_bucket:
            raise RejectedMessage(f"notification from unexpected bucket {bucket!r}", code="unexpected_bucket")
        if not s3_record.event_name.startswith("ObjectCreated"):
            logger.info("ignored event", extra={"event_name": s3_record.event_name, "key": key})
            continue
        try:
            body = _fetch(bucket, key, s3_record.s3.object.version_id)
            outcome = ingest.ingest_object(key, body, written_at=s3_record.event_time)
        except RejectedMessage as exc:
            logger.warning("rejected", extra={"key": key, "code": exc.code, "reason": exc.message})
            raise
        except Exception:
            logger.exception("ingest failed; the message will be retried", extra={"key": key})
            raise
        logger.info("ingested", extra={"key": key, "outcome": outcome.value, "message_id": record.message_id})


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
