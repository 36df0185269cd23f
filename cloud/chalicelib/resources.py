"""AWS resources of the cloud side, defined once as data: the local bootstrap (localdev/bootstrap.py) creates them,
infra/ turns them into CloudFormation. No boto3 here: this module ships in the Lambda package.

Flow: the edge agent PUTs into the ingest bucket → ObjectCreated under `envelopes/`, `quarantine/`,
`agents/` → SQS ingest queue (→ DLQ after `DLQ_MAX_RECEIVE_COUNT` receives) → `ingest` Lambda → DynamoDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# Key prefixes the bucket announces to the ingest queue. `raw/` is deliberately absent: the raw
# bytes are referenced by their envelope/quarantine record, which is written after them. So is
# `probes/` (`medflow-edge doctor`'s write probe, shared_models.s3keys.probe_key): nothing to ingest.
NOTIFY_PREFIXES = ("envelopes/", "quarantine/", "agents/", "assignments/")
# A message received this many times without success moves to the DLQ (poison envelopes end there).
DLQ_MAX_RECEIVE_COUNT = 5
# AWS asks for at least 6 times the consumer's timeout so a slow batch is not delivered twice in parallel.
INGEST_LAMBDA_TIMEOUT_SECONDS = 30
INGEST_VISIBILITY_TIMEOUT_SECONDS = 6 * INGEST_LAMBDA_TIMEOUT_SECONDS
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600

# The scans bucket (patient photos, presigned uploads): every ObjectCreated under `scans/` goes to the
# thumbnails queue (→ `thumbnails` Lambda). The thumbnails it writes beside the originals are announced
# too and skipped by the handler (S3 cannot filter one suffix out of a prefix).
SCANS_PREFIX = "scans/"
THUMBNAIL_SUFFIX = ".thumb.webp"
# Device images: every raw object of the ingest bucket is announced to the thumbnails queue too (the
# handler sniffs the first bytes: DICOM, JPEG, PNG get a preview under `previews/`, which is announced nowhere).
RAW_PREFIX = "raw/"
PREVIEWS_PREFIX = "previews/"
# Per-agent configurations the API publishes (PUT /agents/{agent}/config) for the agent to poll: announced
# nowhere (nothing to ingest); the API may put them, each agent may get its own (infra/policies.py).
CONFIG_PREFIX = "config/"
THUMBNAILS_LAMBDA_TIMEOUT_SECONDS = 60
THUMBNAILS_VISIBILITY_TIMEOUT_SECONDS = 6 * THUMBNAILS_LAMBDA_TIMEOUT_SECONDS

# Web push (docs/portal.md "Web push"): the events table's stream (the outbox, written in each change's
# transaction) feeds the `notify` function, which puts one job per subscription of the patient on the
# notifications queue; the same function consumes that queue and delivers. These event types notify.
PUSH_EVENT_TYPES = ("scan.reviewed", "message.new")
NOTIFY_LAMBDA_TIMEOUT_SECONDS = 30
NOTIFICATIONS_VISIBILITY_TIMEOUT_SECONDS = 6 * NOTIFY_LAMBDA_TIMEOUT_SECONDS
# A push service may be down for a while: more tries than ingest (with the handler's doubling delays,
# 30 s ... 15 min, about an hour) before a job rests in the DLQ.
NOTIFICATIONS_MAX_RECEIVE_COUNT = 8
EVENTS_STREAM_VIEW = "NEW_IMAGE"


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
    stream: str | None = None  # a DynamoDB stream of this view type (the outbox's: new events feed `notify`)

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
        "domain events outbox, ids only: CLINIC#c#EVENTS / {time}-{random}, expired by TTL; its stream feeds"
        " web push (notify)",
        ttl_attribute="expires_at",
        stream=EVENTS_STREAM_VIEW,
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
    scans_bucket: str = ""
    thumbnails_queue: str = ""
    thumbnails_dlq: str = ""
    notifications_queue: str = ""
    notifications_dlq: str = ""

    @classmethod
    def for_stage(cls, stage: str, bucket: str | None = None, scans_bucket: str | None = None) -> ResourceNames:
        # S3 names are global across accounts: deployed stages may pass their own bucket names.
        prefix = f"medflow-{stage}"
        return cls(
            stage=stage,
            bucket=bucket or f"{prefix}-ingest",
            queue=f"{prefix}-ingest",
            dlq=f"{prefix}-ingest-dlq",
            tables={spec.key: f"{prefix}-{spec.key}" for spec in TABLES},
            scans_bucket=scans_bucket or f"{prefix}-scans",
            thumbnails_queue=f"{prefix}-thumbnails",
            thumbnails_dlq=f"{prefix}-thumbnails-dlq",
            notifications_queue=f"{prefix}-notifications",
            notifications_dlq=f"{prefix}-notifications-dlq",
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


def thumbnails_queue_policy(
    queue_arn: str | dict[str, Any], buckets: list[str], account: str | dict[str, Any]
) -> dict[str, Any]:
    """Lets only `buckets` (scans; ingest for its raw/ images), in `account`, send to the thumbnails queue."""
    policy = account_queue_policy(queue_arn, buckets[0], account)
    policy["Statement"][0]["Sid"] = "BucketsNotify"
    policy["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] = [f"arn:aws:s3:::{bucket}" for bucket in buckets]
    return policy


def scans_bucket_policy(bucket_arn: str | dict[str, Any], objects_arn: str | dict[str, Any]) -> dict[str, Any]:
    """The scans bucket's policy: every request over TLS. No encryption header is required of uploads: the
    patient's browser PUTs/POSTs with a presigned URL that cannot add one; the bucket encrypts by default."""
    return {
        "Version": "2012-10-17",
        "Statement": [bucket_policy(bucket_arn, objects_arn)["Statement"][0]],
    }


def scans_cors(origins: list[str]) -> dict[str, Any]:
    """CORS of the scans bucket: the portal's origin may POST (presigned policy) / PUT uploads and GET images."""
    return {
        "CORSRules": [
            {
                "AllowedOrigins": origins,
                "AllowedMethods": ["GET", "PUT", "POST"],
                "AllowedHeaders": ["content-type", "content-length", "x-amz-*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3000,
            }
        ]
    }


def scans_notification_configuration(queue_arn: str) -> dict[str, Any]:
    return {
        "QueueConfigurations": [
            {
                "Id": "thumbnails-scans",
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": SCANS_PREFIX}]}},
            }
        ]
    }


def notification_configuration(queue_arn: str, thumbnails_queue_arn: str | None = None) -> dict[str, Any]:
    configurations: list[dict[str, Any]] = [
        {
            "Id": f"ingest-{prefix.rstrip('/')}",
            "QueueArn": queue_arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
        }
        for prefix in NOTIFY_PREFIXES
    ]
    if thumbnails_queue_arn:
        configurations.append(
            {
                "Id": "thumbnails-raw",
                "QueueArn": thumbnails_queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": RAW_PREFIX}]}},
            }
        )
    return {"QueueConfigurations": configurations}


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
    if spec.stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream}
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
