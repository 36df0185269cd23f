"""Local event router: long-polls the local SQS queues (ingest; thumbnails of the scans bucket; web push jobs)
and reads the events table's stream (web push), handing Lambda-shaped batches to the same handlers Lambda runs,
and runs the scheduled `fleet` handler every minute (MEDFLOW_FLEET_SECONDS).

Stands in for Lambda's SQS event source mapping when running on moto's server (`make run`):
successes are deleted, failures stay on the queue and come back after a delay (so the queue's
redrive policy moves poison messages to the DLQ, as in AWS).

    python -m localdev.router          # with cloud/ on the path, settings from the environment
    run(stop_event, settings)                          # in a thread or subprocess of the orchestrator
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.events.fleet import handler as fleet_handler
from chalicelib.settings import Settings, get_settings, use_settings

log = logging.getLogger("medflow.local_router")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
BATCH_SIZE = 10  # the SQS event source mapping's default
POLL_SECONDS = 2  # long-poll wait; also bounds how long `stop` takes to be noticed
FLEET_SECONDS = 60  # how often the local stack evaluates fleet health (AWS: every 5 minutes)


@dataclass
class FakeLambdaContext:
    """The attributes the handler (and Powertools' logger) read from Lambda's context."""

    function_name: str = "ingest"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/local/ingest"
    log_stream_name: str = "local"
    deadline_ms: float = field(default_factory=lambda: time.time() * 1000 + 30_000)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


def thumbnails_handler() -> Handler:
    # The function Lambda runs behind app.thumbnails.
    from chalicelib.events.thumbnails import lambda_handler

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return dict(lambda_handler(event, context))

    return handler


def notify_handler() -> Handler:
    # The function Lambda runs behind app.notify (both its sources: the events stream and the notifications queue).
    from chalicelib.events.notify import lambda_handler

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return dict(lambda_handler(event, context))

    return handler


def default_handler() -> Handler:
    # The function Lambda runs behind app.ingest (app.py only forwards to it).
    from chalicelib.events.ingest import lambda_handler

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return dict(lambda_handler(event, context))

    return handler


def to_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """SQS ReceiveMessage output → the event Lambda's SQS event source mapping delivers."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class Router:
    def __init__(
        self,
        settings: Settings,
        handler: Handler | None = None,
        retry_after_seconds: int | None = 5,
        queue: str | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler or default_handler()
        # Lambda leaves a failed message invisible for the queue's visibility timeout (minutes);
        # locally we bring it back sooner. None keeps the queue's timeout, exactly as in AWS.
        self.retry_after_seconds = retry_after_seconds
        self.sqs = aws.client("sqs", settings)
        self.queue_url = self.sqs.get_queue_url(QueueName=queue or settings.names.queue)["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def poll_once(self, wait_seconds: int = POLL_SECONDS) -> tuple[int, int]:
        """Receives one batch and delivers it. Returns (succeeded, failed)."""
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = received.get("Messages", [])
        if not messages:
            return 0, 0
        event = to_lambda_event(messages, self.queue_arn, self.settings.region)
        try:
            response = self.handler(event, FakeLambdaContext())
            failed_ids = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception:
            # A handler that raises fails the whole batch, as in Lambda.
            log.exception("ingest handler raised; the whole batch will be retried")
            failed_ids = {message["MessageId"] for message in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if failed and self.retry_after_seconds is not None:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_after_seconds}
                    for i, m in enumerate(failed)
                ],
            )
        return len(done), len(failed)


STREAM_BATCH = 100  # infra's NOTIFY_STREAM_BATCH_SIZE
STREAM_RETRIES = 5  # infra's NOTIFY_STREAM_RETRIES: then the records' position goes to the DLQ


def stream_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A GetRecords record → the record Lambda's DynamoDB stream mapping delivers (the same keys; times as epochs)."""
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": body, "awsRegion": region, "eventSourceARN": stream_arn}


class StreamReader:
    """Stands in for Lambda's DynamoDB stream event source mapping on the events table (the outbox): reads each
    shard from where the reader started (LATEST, as infra's mapping) and hands batches to `handler`. A batch
    whose records fail is delivered again from the first failure, up to `STREAM_RETRIES` times; then the
    records' position goes to the notifications DLQ, as the mapping's on-failure destination does."""

    def __init__(self, settings: Settings, handler: Handler | None = None) -> None:
        self.settings = settings
        self.handler = handler or notify_handler()
        self.streams = aws.client("dynamodbstreams", settings)
        table = aws.client("dynamodb", settings).describe_table(TableName=settings.names.table("events"))["Table"]
        self.stream_arn: str = table["LatestStreamArn"]
        self.iterators: dict[str, str] = {}
        self.pending: dict[str, tuple[list[dict[str, Any]], int]] = {}  # shard → (records to retry, tries so far)
        self._discover()

    def _discover(self) -> None:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
                )["ShardIterator"]

    def poll_once(self) -> tuple[int, int]:
        """Reads each shard once and delivers what it holds. Returns (succeeded, failed) records."""
        done = failed = 0
        for shard in list(self.iterators):
            records, tries = self.pending.pop(shard, ([], 0))
            if not records:
                answer = self.streams.get_records(ShardIterator=self.iterators[shard], Limit=STREAM_BATCH)
                records = [stream_record(r, self.stream_arn, self.settings.region) for r in answer["Records"]]
                if answer.get("NextShardIterator"):
                    self.iterators[shard] = answer["NextShardIterator"]
                else:
                    del self.iterators[shard]  # closed: its children come with the next discovery
                    self._discover()
            if not records:
                continue
            ok, retry = self._deliver(records)
            done += ok
            if retry:
                failed += len(retry)
                if tries + 1 >= STREAM_RETRIES:
                    self._to_dlq(shard, retry)
                else:
                    self.pending[shard] = (retry, tries + 1)
        return done, failed

    def _deliver(self, records: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        try:
            response = self.handler({"Records": records}, FakeLambdaContext(function_name="notify"))
            failures = [item["itemIdentifier"] for item in response.get("batchItemFailures", [])]
        except Exception:
            log.exception("notify handler raised; the whole stream batch will be retried")
            failures = [records[0]["dynamodb"]["SequenceNumber"]]
        if not failures:
            return len(records), []
        # Lambda resumes from the lowest failed sequence number: everything from there is delivered again.
        failed_at = (i for i, record in enumerate(records) if record["dynamodb"]["SequenceNumber"] in failures)
        first = next(failed_at, 0)
        return first, records[first:]

    def _to_dlq(self, shard: str, records: list[dict[str, Any]]) -> None:
        sqs = aws.client("sqs", self.settings)
        url = sqs.get_queue_url(QueueName=self.settings.names.notifications_dlq)["QueueUrl"]
        numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
        detail = {"streamArn": self.stream_arn, "shardId": shard, "startSequenceNumber": numbers[0],
                  "endSequenceNumber": numbers[-1], "batchSize": len(records)}  # fmt: skip
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"DDBStreamBatchInfo": detail}))
        log.error("outbox stream records failed %d times: their position went to the DLQ", STREAM_RETRIES)


OUTBOX_RETRY_SECONDS = 60


def _outbox(settings: Settings) -> StreamReader | None:
    """The events stream's reader, or None (logged) where the endpoint has no such table or stream (LocalStack run
    offline has no DynamoDB): the queues keep flowing, only web push waits."""
    try:
        return StreamReader(settings)
    except (BotoCoreError, ClientError, KeyError) as exc:
        log.warning("no events stream (%s): web push waits; trying again in %d s", type(exc).__name__,
                    OUTBOX_RETRY_SECONDS)  # fmt: skip
        return None


def run(stop: threading.Event, settings: Settings | None = None, retry_after_seconds: int | None = 5) -> None:
    """Delivers queue messages to the ingest handler until `stop` is set. Survives the local AWS being briefly down."""
    if settings is not None:
        use_settings(settings)  # the handler reads the process's settings
    settings = get_settings()
    routers: list[Router] = []
    outbox: StreamReader | None = None
    outbox_due = time.monotonic()
    queues = (settings.names.queue, settings.names.thumbnails_queue, settings.names.notifications_queue)
    log.info("event router polling %s at %s", ", ".join(queues), settings.endpoint_url or "AWS")
    fleet_every = float(os.environ.get("MEDFLOW_FLEET_SECONDS", FLEET_SECONDS))
    fleet_due = time.monotonic() + fleet_every
    while not stop.is_set():
        try:
            routers = routers or [
                Router(settings, retry_after_seconds=retry_after_seconds),
                Router(settings, thumbnails_handler(), retry_after_seconds, queue=settings.names.thumbnails_queue),
                # Web push jobs: the handler sets each failed job's delay itself (doubling backoff), as in AWS.
                Router(settings, notify_handler(), None, queue=settings.names.notifications_queue),
            ]
            for router in routers:
                router.poll_once(wait_seconds=1)
            if outbox is None and time.monotonic() >= outbox_due:
                outbox_due = time.monotonic() + OUTBOX_RETRY_SECONDS
                outbox = _outbox(settings)
            if outbox is not None:
                outbox.poll_once()
            if time.monotonic() >= fleet_due:
                # What the scheduled `fleet` Lambda does in AWS (EventBridge, every 5 minutes).
                fleet_due = time.monotonic() + fleet_every
                log.info("fleet evaluated: %s", fleet_handler({}))
        except (BotoCoreError, ClientError) as exc:
            log.warning("local queue unreachable (%s); retrying", type(exc).__name__)
            stop.wait(1.0)
    log.info("event router stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    run(stop)


if __name__ == "__main__":
    main()
