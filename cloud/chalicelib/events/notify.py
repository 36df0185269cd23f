"""The `notify` Lambda: web push, fed by two event sources (docs/portal.md "Web push").

- The events table's stream (the outbox: each change writes its events in its own transaction). Each new event
  that notifies becomes one job per subscription of its patient on the notifications queue. Only AWS trouble
  fails a record; the stream mapping retries it, then hands it to the DLQ.
- The notifications queue: each job is one delivery (services/notifications.py). A push service's 404/410
  deletes the subscription; any other failure makes the job invisible for a doubling delay (30 s ... 15 min,
  the push service's Retry-After if longer) and reports it failed, so SQS delivers it again and after
  `NOTIFICATIONS_MAX_RECEIVE_COUNT` receives moves it to the DLQ: a notification is never dropped unseen.

Wired in app.py as `@app.lambda_function(name="notify")`; infra attaches both sources with ReportBatchItemFailures;
locally `localdev/router.py` reads the stream and polls the queue and calls this same handler.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import aws
from chalicelib.errors import RejectedMessage
from chalicelib.services import notifications
from chalicelib.settings import get_settings

logger = Logger(service="medflow-notify")
stream_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
queue_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
SQS_BATCH = 10  # SendMessageBatch's limit


@cache
def _queue_url(endpoint: str | None, name: str) -> str:
    # Cached per endpoint too: tests switch between emulators that answer the same name with other URLs.
    return str(aws.client("sqs", get_settings()).get_queue_url(QueueName=name)["QueueUrl"])


def enqueue(jobs: list[notifications.NotificationJob]) -> None:
    """Puts the jobs on the notifications queue; raises when any entry was refused (the record is retried)."""
    settings = get_settings()
    sqs, url = aws.client("sqs", settings), _queue_url(settings.endpoint_url, settings.names.notifications_queue)
    for start in range(0, len(jobs), SQS_BATCH):
        entries = [
            {"Id": str(i), "MessageBody": job.model_dump_json()}
            for i, job in enumerate(jobs[start : start + SQS_BATCH])
        ]
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
        if failed:
            raise RuntimeError(f"{len(failed)} notification jobs were refused by the queue: {failed[0].get('Code')}")


def stream_record_handler(record: DynamoDBRecord) -> None:
    if record.event_name is None or record.event_name.name != "INSERT" or record.dynamodb is None:
        return  # TTL expiries (REMOVE) and updates notify nobody
    image: dict[str, Any] = record.dynamodb.new_image or {}
    subject = image.get("subject")
    subject = json.loads(subject) if isinstance(subject, str) else subject
    if not isinstance(subject, dict) or not image.get("type") or not image.get("clinic_id"):
        raise RejectedMessage("an outbox event without type, clinic or subject", code="invalid_event")
    jobs = notifications.jobs_for(str(image["sk"]), str(image["type"]), str(image["clinic_id"]), subject)
    if jobs:
        enqueue(jobs)
        logger.info("push jobs", extra={"event_id": image["sk"], "type": image["type"], "jobs": len(jobs)})


def queue_record_handler(record: SQSRecord) -> None:
    settings = get_settings()
    job = notifications.NotificationJob.model_validate_json(record.body)
    try:
        outcome = notifications.deliver(job, settings)
    except notifications.PushRetry as exc:
        receives = int(record.attributes.approximate_receive_count or 1)
        delay = notifications.retry_delay(receives, settings.push_retry_seconds, exc.retry_after)
        aws.client("sqs", settings).change_message_visibility(
            QueueUrl=_queue_url(settings.endpoint_url, settings.names.notifications_queue),
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=delay,
        )
        logger.warning(
            "push failed; retried later",
            extra={"event_id": job.event_id, "subscription_id": job.subscription_id, "status": exc.status,
                   "receives": receives, "retry_in_seconds": delay},
        )  # fmt: skip
        raise
    logger.info(
        "push " + outcome.result,
        extra={"event_id": job.event_id, "subscription_id": job.subscription_id, "status": outcome.status},
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    records = event.get("Records") or []
    if not records:
        return {"batchItemFailures": []}
    if records[0].get("eventSource") == "aws:dynamodb":
        return process_partial_response(
            event=event, record_handler=stream_record_handler, processor=stream_processor, context=context
        )
    return process_partial_response(
        event=event, record_handler=queue_record_handler, processor=queue_processor, context=context
    )
