"""Local event router: long-polls the local SQS queues (ingest; thumbnails of the scans bucket) and hands
Lambda-shaped batches to the same handlers Lambda runs, and runs the scheduled `fleet` handler every minute
(MEDFLOW_FLEET_SECONDS).

Stands in for Lambda's SQS event source mapping when running on moto's server (`make run`):
successes are deleted, failures stay on the queue and come back after a delay (so the queue's
redrive policy moves poison messages to the DLQ, as in AWS).

    python -m localdev.router          # with cloud/ on the path, settings from the environment
    run(stop_event, settings)                          # in a thread or subprocess of the orchestrator
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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


def run(stop: threading.Event, settings: Settings | None = None, retry_after_seconds: int | None = 5) -> None:
    """Delivers queue messages to the ingest handler until `stop` is set. Survives the local AWS being briefly down."""
    if settings is not None:
        use_settings(settings)  # the handler reads the process's settings
    settings = get_settings()
    routers: list[Router] = []
    queues = (settings.names.queue, settings.names.thumbnails_queue)
    log.info("event router polling %s at %s", ", ".join(queues), settings.endpoint_url or "AWS")
    fleet_every = float(os.environ.get("MEDFLOW_FLEET_SECONDS", FLEET_SECONDS))
    fleet_due = time.monotonic() + fleet_every
    while not stop.is_set():
        try:
            routers = routers or [
                Router(settings, retry_after_seconds=retry_after_seconds),
                Router(settings, thumbnails_handler(), retry_after_seconds, queue=settings.names.thumbnails_queue),
            ]
            for router in routers:
                router.poll_once(wait_seconds=1)
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
