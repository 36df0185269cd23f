"""AWS resources of the cloud side, defined once as data: `ensure_resources` creates them, infra/ reads the specs.

Flow: the edge agent PUTs into the ingest bucket → ObjectCreated under `envelopes/`, `quarantine/`,
`agents/` → SQS ingest queue (→ DLQ after `DLQ_MAX_RECEIVE_COUNT` receives) → `ingest` Lambda → DynamoDB.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
from botocore.exceptions import ClientError

_log = logging.getLogger(__name__)

# Key prefixes the bucket announces to the ingest queue. `raw/` is deliberately absent: the raw
# bytes are referenced by their envelope/quarantine record, which is written after them.
NOTIFY_PREFIXES = ("envelopes/", "quarantine/", "agents/", "assignments/")
# A message received this many times without success moves to the DLQ (poison envelopes end there).
DLQ_MAX_RECEIVE_COUNT = 5
# AWS asks for at least 6 times the consumer's timeout so a slow batch is not delivered twice in parallel.
INGEST_LAMBDA_TIMEOUT_SECONDS = 30
INGEST_VISIBILITY_TIMEOUT_SECONDS = 6 * INGEST_LAMBDA_TIMEOUT_SECONDS
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True)
class IndexSpec:
    name: str
    kind: Literal["global", "local"]
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """One DynamoDB table. Every key is a string; the partition key begins with the clinic (except
    login_throttle's and sessions': no clinic is known before a login or a refresh is checked)."""

    key: str  # logical name; the physical name is medflow-{stage}-{key}
    description: str
    hash_key: str = "pk"
    range_key: str = "sk"
    indexes: tuple[IndexSpec, ...] = ()
    ttl_attribute: str | None = None

    def attributes(self) -> list[str]:
        names = [self.hash_key, self.range_key]
        for index in self.indexes:
            names += [index.hash_key] + ([index.range_key] if index.range_key else [])
        return list(dict.fromkeys(names))


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "clinical",
        "patient-scoped records of every domain: CLINIC#c#PATIENT#p / {DOMAIN}#...; by_type orders one type,"
        " gsi1 serves each domain's clinic-level look-ups",
        indexes=(IndexSpec("by_type", "local", "pk", "type_sk"), IndexSpec("gsi1", "global", "gsi1pk", "gsi1sk")),
    ),
    TableSpec(
        "directory",
        "clinic-level records of every domain (clinics, users, patients, agents, quarantine, unmatched,"
        " counters, search entries): CLINIC#c or ORG#o / {TYPE}#...; gsi1 serves look-ups (email, ...)",
        indexes=(IndexSpec("gsi1", "global", "gsi1pk", "gsi1sk"),),
    ),
    TableSpec(
        "audit",
        "audit log, no PHI: CLINIC#c#AUDIT / time#id; by_resource and by_user answer GET /audit",
        indexes=(
            IndexSpec("by_resource", "global", "res_pk", "res_sk"),
            IndexSpec("by_user", "global", "user_pk", "user_sk"),
        ),
    ),
    TableSpec(
        "events",
        "domain events outbox, ids only: CLINIC#c#EVENTS / {time}-{random}, expired by TTL",
        ttl_attribute="expires_at",
    ),
    TableSpec("ingest_ledger", "idempotency, one item per ingested envelope: CLINIC#c#ENVELOPE#id / INGESTED"),
    TableSpec(
        "login_throttle",
        "login attempts per email fingerprint and window: LOGIN#fingerprint / WINDOW#n, expired by TTL",
        ttl_attribute="expires_at",
    ),
    TableSpec(
        "sessions",
        "staff sessions, one per login, with the hash of the current refresh token: SESSION#id / SESSION,"
        " expired by TTL; by_user lists a user's sessions (USER#uid / created#session)",
        indexes=(IndexSpec("by_user", "global", "user_pk", "user_sk"),),
        ttl_attribute="expires_at",
    ),
)
TABLE_KEYS = tuple(spec.key for spec in TABLES)


def table_spec(key: str) -> TableSpec:
    for spec in TABLES:
        if spec.key == key:
            return spec
    raise KeyError(f"no table {key!r}; known: {', '.join(TABLE_KEYS)}")


@dataclass(frozen=True)
class ResourceNames:
    """Physical names for one stage (`medflow-{stage}-...`)."""

    stage: str
    bucket: str
    queue: str
    dlq: str
    tables: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_stage(cls, stage: str, bucket: str | None = None) -> ResourceNames:
        # S3 names are global across accounts: deployed stages may pass their own bucket name.
        prefix = f"medflow-{stage}"
        return cls(
            stage=stage,
            bucket=bucket or f"{prefix}-ingest",
            queue=f"{prefix}-ingest",
            dlq=f"{prefix}-ingest-dlq",
            tables={spec.key: f"{prefix}-{spec.key}" for spec in TABLES},
        )

    def table(self, key: str) -> str:
        return self.tables[key]


def queue_policy(queue_arn: str | dict[str, Any], bucket: str) -> dict[str, Any]:
    """Lets only the ingest bucket send to the ingest queue (`queue_arn` may be a CloudFormation reference)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "IngestBucketNotifies",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }


def account_queue_policy(queue_arn: str | dict[str, Any], bucket: str, account: str | dict[str, Any]) -> dict[str, Any]:
    """`queue_policy`, also requiring the bucket to be in `account`: S3 bucket names are global, so a
    bucket of that name in another account (ours deleted, the name taken) must not reach the queue."""
    policy = queue_policy(queue_arn, bucket)
    for statement in policy["Statement"]:
        statement["Condition"]["StringEquals"] = {"aws:SourceAccount": account}
    return policy


# Server-side encryption values S3 accepts on an upload (the edge agent sends AES256 or aws:kms).
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")


def bucket_policy(bucket_arn: str | dict[str, Any], objects_arn: str | dict[str, Any]) -> dict[str, Any]:
    """The ingest bucket's policy (ARNs may be CloudFormation references): every request over TLS, and
    every upload asks for server-side encryption (the bucket encrypts by default anyway; this refuses a
    client that does not say so, e.g. one misconfigured to send elsewhere what it sends here).

    Deny only: who may do what is the IAM roles' business. A negated condition matches when the key
    is absent, so one statement refuses uploads without the header and with another value. Multipart
    uploads would need the header on every part request: the edge agent uses single PUTs."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "EncryptedUploadsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects_arn,
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": list(SSE_ALGORITHMS)}},
            },
        ],
    }


def notification_configuration(queue_arn: str) -> dict[str, Any]:
    return {
        "QueueConfigurations": [
            {
                "Id": f"ingest-{prefix.rstrip('/')}",
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
            }
            for prefix in NOTIFY_PREFIXES
        ]
    }


def ensure_resources(
    endpoint_url: str | None, stage: str, region: str, *, include_tables: bool = True
) -> ResourceNames:
    """Creates (or brings up to date) the bucket, queues, notification and tables of `stage`. Idempotent.

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
        QueueUrl=queue_url, Attributes={"Policy": json.dumps(queue_policy(queue_arn, names.bucket))}
    )
    # S3 checks it may send to the queue and then posts an `s3:TestEvent` message: the consumer skips it.
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket, NotificationConfiguration=notification_configuration(queue_arn)
    )
    for spec in TABLES if include_tables else ():
        _ensure_table(dynamodb, spec, names.table(spec.key))
    return names


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
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
    apply_bucket_policy(s3, bucket)
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


def apply_bucket_policy(s3: Any, bucket: str) -> bool:
    """Puts `bucket_policy` on the bucket if the endpoint can live with it; True when it stays.

    It stays on AWS. An endpoint that refuses a compliant upload once the policy is on cannot hold
    it, and the policy is taken off again (with a warning) so the local stack keeps working: a
    plain-HTTP endpoint is refused by TlsOnly, as it should be, and moto (5.2) also treats every
    Deny statement with a Condition as matching, refusing every object request over any transport.
    """
    arn = f"arn:aws:s3:::{bucket}"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(arn, f"{arn}/*")))
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


def table_definition(spec: TableSpec, name: str) -> dict[str, Any]:
    """The CreateTable request for `spec` (on-demand billing)."""
    definition: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in spec.attributes()],
        "KeySchema": [
            {"AttributeName": spec.hash_key, "KeyType": "HASH"},
            {"AttributeName": spec.range_key, "KeyType": "RANGE"},
        ],
    }
    for kind, request_key in (("global", "GlobalSecondaryIndexes"), ("local", "LocalSecondaryIndexes")):
        indexes = [index for index in spec.indexes if index.kind == kind]
        if indexes:
            definition[request_key] = [_index_definition(index) for index in indexes]
    return definition


def _index_definition(index: IndexSpec) -> dict[str, Any]:
    schema = [{"AttributeName": index.hash_key, "KeyType": "HASH"}]
    if index.range_key:
        schema.append({"AttributeName": index.range_key, "KeyType": "RANGE"})
    return {"IndexName": index.name, "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}}


def _ensure_table(dynamodb: Any, spec: TableSpec, name: str) -> None:
    try:
        dynamodb.create_table(**table_definition(spec, name))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    dynamodb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    if spec.ttl_attribute:
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in {"ENABLED", "ENABLING"}:
            dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )
