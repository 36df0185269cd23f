"""Creates the AWS resources of a stage on a local endpoint (moto's server, LocalStack): the bucket with its
policy, the ingest queue and DLQ, the S3 → SQS notification, and the tables the registered domains use
(`chalicelib.domains.tables()`). Idempotent. Deployed stages get the same resources from infra/ instead;
this module stays out of the Lambda package.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib import domains
from chalicelib.resources import (
    DLQ_MAX_RECEIVE_COUNT,
    DLQ_RETENTION_SECONDS,
    INGEST_VISIBILITY_TIMEOUT_SECONDS,
    NOTIFICATIONS_MAX_RECEIVE_COUNT,
    NOTIFICATIONS_VISIBILITY_TIMEOUT_SECONDS,
    QUEUE_RETENTION_SECONDS,
    THUMBNAILS_VISIBILITY_TIMEOUT_SECONDS,
    ResourceNames,
    TableSpec,
    account_queue_policy,
    bucket_policy,
    notification_configuration,
    scans_bucket_policy,
    scans_cors,
    scans_notification_configuration,
    table_definition,
    thumbnails_queue_policy,
)

_log = logging.getLogger(__name__)


def ensure_resources(
    endpoint_url: str | None,
    stage: str,
    region: str,
    *,
    include_tables: bool = True,
    portal_origins: list[str] | None = None,
) -> ResourceNames:
    """Creates (or brings up to date) the buckets, queues, notifications and tables of `stage`. Idempotent.

    `include_tables=False` serves endpoints without DynamoDB (LocalStack run offline, see localstack/).
    """
    names = ResourceNames.for_stage(stage)
    s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
    sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
    dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
    _ensure_bucket(s3, names.bucket, region)
    dlq_arn = _ensure_queue(sqs, names.dlq, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    queue_arn = _ensure_queue(
        sqs,
        names.queue,
        {
            "VisibilityTimeout": str(INGEST_VISIBILITY_TIMEOUT_SECONDS),
            "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT}),
        },
    )
    queue_url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={"Policy": json.dumps(account_queue_policy(queue_arn, names.bucket, queue_arn.split(":")[4]))},
    )
    thumbnails_arn = _ensure_thumbnails_queue(sqs, names)
    # S3 checks it may send to the queue and then posts an `s3:TestEvent` message: the consumer skips it.
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket, NotificationConfiguration=notification_configuration(queue_arn, thumbnails_arn)
    )
    _ensure_scans(s3, names, region, thumbnails_arn, portal_origins or ["http://localhost:5173"])
    _ensure_notifications_queue(sqs, names)
    for spec in domains.tables() if include_tables else ():
        _ensure_table(dynamodb, spec, names.table(spec.key))
    return names


def _ensure_thumbnails_queue(sqs: Any, names: ResourceNames) -> str:
    """The thumbnails queue (+ DLQ), which the scans bucket and the ingest bucket's raw/ images notify."""
    dlq_arn = _ensure_queue(sqs, names.thumbnails_dlq, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    queue_arn = _ensure_queue(
        sqs,
        names.thumbnails_queue,
        {
            "VisibilityTimeout": str(THUMBNAILS_VISIBILITY_TIMEOUT_SECONDS),
            "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT}),
        },
    )
    queue_url = sqs.get_queue_url(QueueName=names.thumbnails_queue)["QueueUrl"]
    policy = thumbnails_queue_policy(queue_arn, [names.scans_bucket, names.bucket], queue_arn.split(":")[4])
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return queue_arn


def _ensure_notifications_queue(sqs: Any, names: ResourceNames) -> str:
    """The notifications queue (+ DLQ): one web push job per (event, subscription); only `notify` sends to it."""
    dlq_arn = _ensure_queue(sqs, names.notifications_dlq, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": NOTIFICATIONS_MAX_RECEIVE_COUNT}
    return _ensure_queue(
        sqs,
        names.notifications_queue,
        {
            "VisibilityTimeout": str(NOTIFICATIONS_VISIBILITY_TIMEOUT_SECONDS),
            "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )


def _ensure_scans(s3: Any, names: ResourceNames, region: str, queue_arn: str, origins: list[str]) -> None:
    """The scans bucket (private, TLS only, CORS for the portal) → the thumbnails queue."""
    _ensure_bucket(s3, names.scans_bucket, region, policy=scans_bucket_policy)
    s3.put_bucket_cors(Bucket=names.scans_bucket, CORSConfiguration=scans_cors(origins))
    s3.put_bucket_notification_configuration(
        Bucket=names.scans_bucket, NotificationConfiguration=scans_notification_configuration(queue_arn)
    )


def _ensure_bucket(s3: Any, bucket: str, region: str, *, policy: Any = bucket_policy) -> None:
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    apply_bucket_policy(s3, bucket, policy=policy)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


# Written and removed again by `apply_bucket_policy`; outside NOTIFY_PREFIXES, so no queue message.
POLICY_PROBE_KEY = "_bootstrap/policy-probe"


def apply_bucket_policy(s3: Any, bucket: str, *, policy: Any = bucket_policy) -> bool:
    """Puts `bucket_policy` on the bucket if the endpoint can live with it; True when it stays.

    It stays on AWS. An endpoint that refuses a compliant upload once the policy is on cannot hold
    it, and the policy is taken off again (with a warning) so the local stack keeps working: a
    plain-HTTP endpoint is refused by TlsOnly, as it should be, and moto (5.2) also treats every
    Deny statement with a Condition as matching, refusing every object request over any transport.
    """
    arn = f"arn:aws:s3:::{bucket}"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy(arn, f"{arn}/*")))
    try:
        probe = s3.put_object(Bucket=bucket, Key=POLICY_PROBE_KEY, Body=b"", ServerSideEncryption="AES256")
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"403", "AccessDenied"}:
            raise
        s3.delete_bucket_policy(Bucket=bucket)
        _log.warning(
            "the endpoint refuses an encrypted upload under the ingest bucket's policy (plain HTTP, or an emulator "
            "that ignores Deny conditions): bucket %s runs without it",
            bucket,
        )
        return False
    # The version itself, not a delete marker: the probe leaves nothing behind in the versioned bucket.
    version = {"VersionId": probe["VersionId"]} if probe.get("VersionId") else {}
    s3.delete_object(Bucket=bucket, Key=POLICY_PROBE_KEY, **version)
    return True


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    """Creates the queue or, when it exists with other attributes, updates them. Returns its ARN."""
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"QueueAlreadyExists", "QueueNameExists"}:
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def _ensure_table(dynamodb: Any, spec: TableSpec, name: str) -> None:
    try:
        dynamodb.create_table(**table_definition(spec, name))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if spec.stream and not dynamodb.describe_table(TableName=name)["Table"].get("StreamSpecification"):
        # A table created before it had a stream (an older local recording): turn it on.
        dynamodb.update_table(
            TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": spec.stream}
        )
    dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    if spec.ttl_attribute:
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )
