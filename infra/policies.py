"""One least-privilege IAM policy per Lambda function, generated from the tables each function uses.

`make infra` writes them to `cloud/.chalice/policy-{function}.json`, which `.chalice/config.json`
names per function (`autogen_policy: false`), and `chalice package` puts them on each function's
role. They name resources by their logical ids in the merged template (`${IngestBucket.Arn}`,
`Fn::GetAtt ReadingsTable.Arn`), so they hold no account, region or stage: they are the same
for every stage, and they work only in the packaged template (`chalice deploy` would send the
references to IAM as they are, and IAM refuses them: deploy with `make package`).

The audit log is append-only for both roles. IAM cannot require a request's ConditionExpression
(`attribute_not_exists(pk)`), so it cannot stop a PutItem from replacing an existing entry; what it
can do is done here: PutItem is the one write allowed on the audit table (a TransactWriteItems Put
is authorised as PutItem), it may write only the audit entry's attributes and never return the old
item, and UpdateItem, DeleteItem, BatchWriteItem and the PartiQL writes are explicitly denied. An
entry's sort key ends in a random id and neither role may read the audit table, so a role cannot
name an existing entry to overwrite it; point-in-time recovery keeps every earlier state.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cloud"))

from chalicelib import domains
from chalicelib.db.audit import AuditItem
from chalicelib.resources import CONFIG_PREFIX, NOTIFY_PREFIXES, PREVIEWS_PREFIX, RAW_PREFIX, SCANS_PREFIX, TABLE_KEYS

# Which tables each function uses: read from the domain registry, so a new domain needs no edit here.
FUNCTION_TABLES: dict[str, tuple[str, ...]] = domains.function_tables()
# Tables a function only reads (the rest of its tables it reads and writes).
READ_ONLY: dict[str, tuple[str, ...]] = {}
# Tables a function writes in batches (BatchWriteItem can delete as well as put: granted only here):
# device readings, as ingest stores them and as staff assign unmatched captures.
BATCH_WRITES: dict[str, tuple[str, ...]] = {"ingest": ("clinical",), "api": ("clinical",)}
# Tables a function deletes items of (never audit): the API replaces search and look-up entries and takes
# back an assignment of device readings the same day; the API and notify delete web push subscriptions (a patient
# unsubscribes; a push service answers 404/410).
DELETES: dict[str, tuple[str, ...]] = {"api": ("clinical", "directory"), "notify": ("clinical", "directory")}
AUDIT_TABLE = "audit"
# The attributes of an audit entry, read from its model so a new one cannot be forgotten here:
# a PutItem on the audit table may write these only.
AUDIT_ATTRIBUTES = tuple(sorted(attribute.attr_name for attribute in AuditItem.get_attributes().values()))

# Chalice's names: the function's key in config.json's `lambda_functions` and its logical id in the template.
CHALICE_NAMES = {
    "api": "api_handler",
    "ingest": "ingest",
    "thumbnails": "thumbnails",
    "fleet": "fleet",
    "notify": "notify",
}
LOGICAL_IDS = {
    "api": "APIHandler",
    "ingest": "Ingest",
    "thumbnails": "Thumbnails",
    "fleet": "Fleet",
    "notify": "Notify",
}
# The template parameter naming the SSM SecureString that holds the JWT signing key.
JWT_SECRET_PARAMETER = "JwtSecretParameter"  # noqa: S105 - a parameter name, not a secret
# The template parameter naming the SSM SecureString that holds the VAPID private key (read by notify alone).
VAPID_KEY_PARAMETER = "VapidPrivateKeyParameter"
# The template parameter naming the SSM SecureString that holds the Claude API key (read by the API alone).
ANTHROPIC_KEY_PARAMETER = "AnthropicKeyParameter"
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")

READ = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem")
AUDIT_DENIED = (
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)
INGEST_QUEUE_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
)


def table_logical_id(key: str) -> str:
    """The logical id infra/template.py gives a table (`ingest_ledger` → `IngestLedgerTable`)."""
    return "".join(part.capitalize() for part in key.split("_")) + "Table"


def log_group_logical_id(function: str) -> str:
    return f"{function.capitalize()}LogGroup"


def _table_arns(keys: Sequence[str], *, indexes: bool) -> list[Any]:
    arns: list[Any] = []
    for key in keys:
        arns.append({"Fn::GetAtt": [table_logical_id(key), "Arn"]})
        if indexes:
            arns.append({"Fn::Sub": f"${{{table_logical_id(key)}.Arn}}/index/*"})
    return arns


def _statement(sid: str, actions: Sequence[str], resources: list[Any], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources, **extra}


def _table_statements(function: str, tables: Sequence[str]) -> list[dict[str, Any]]:
    unknown = sorted(set(tables) - set(TABLE_KEYS))
    if unknown:
        raise ValueError(f"function {function!r} names unknown tables {unknown}; known: {', '.join(TABLE_KEYS)}")
    read_only = set(READ_ONLY.get(function, ()))
    plain = [key for key in tables if key != AUDIT_TABLE]
    written = [key for key in plain if key not in read_only]
    statements = []
    if plain:
        statements.append(_statement("ReadTables", READ, _table_arns(plain, indexes=True)))
    if written:
        statements.append(_statement("WriteTables", WRITE, _table_arns(written, indexes=False)))
    batched = [key for key in BATCH_WRITES.get(function, ()) if key in written]
    if batched:
        statements.append(
            _statement("BatchWriteTables", ["dynamodb:BatchWriteItem"], _table_arns(batched, indexes=False))
        )
    deleted = [key for key in DELETES.get(function, ()) if key in written]
    if deleted:
        statements.append(_statement("DeleteItems", ["dynamodb:DeleteItem"], _table_arns(deleted, indexes=False)))
    if AUDIT_TABLE in tables:
        audit = _table_arns([AUDIT_TABLE], indexes=False)
        statements.append(
            _statement(
                "AppendAudit",
                ["dynamodb:PutItem"],
                audit,
                Condition={
                    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(AUDIT_ATTRIBUTES)},
                    "StringEqualsIfExists": {"dynamodb:ReturnValues": "NONE"},
                },
            )
        )
    # Denied whatever else the role is given, also if a later statement grants the table more.
    audit_arns = _table_arns([AUDIT_TABLE], indexes=False)
    statements.append(
        {"Sid": "AuditIsAppendOnly", "Effect": "Deny", "Action": list(AUDIT_DENIED), "Resource": audit_arns}
    )
    return statements


def _secret_statements(parameter: str, name: str = "JwtSecret") -> list[dict[str, Any]]:
    """Read the one SSM parameter named by template parameter `parameter`, and decrypt it only through SSM."""
    arn = {"Fn::Sub": f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter${{{parameter}}}"}
    return [
        _statement(f"Read{name}", ["ssm:GetParameter"], [arn]),
        _statement(
            f"Decrypt{name}ThroughSsm",
            ["kms:Decrypt"],
            [{"Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"}],
            Condition={
                "StringEquals": {
                    "kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
                    "kms:EncryptionContext:PARAMETER_ARN": arn,
                }
            },
        ),
    ]


def policies(
    function_tables: Mapping[str, Sequence[str]],
    *,
    ingest_function: str = "ingest",
    secret_reader: str = "api",  # noqa: S107 - a function name
    secret_parameter: str = JWT_SECRET_PARAMETER,
) -> dict[str, dict[str, Any]]:
    """The IAM policy document of each function in `function_tables` (function name → table keys it uses).

    Every function may write its own log group (created by the template, so no logs:CreateLogGroup);
    `ingest_function` alone may consume the ingest queue and read the objects the bucket announces;
    `secret_reader` alone may read the JWT signing key (the SSM parameter that template parameter
    `secret_parameter` names) and the Claude API key; `kms:Decrypt` matters for a customer-managed key,
    the default aws/ssm key's own policy already allows use through SSM).
    """
    documents: dict[str, dict[str, Any]] = {}
    for function, tables in function_tables.items():
        statements = [
            _statement(
                "OwnLogGroup",
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [{"Fn::GetAtt": [log_group_logical_id(function), "Arn"]}],
            ),
            *_table_statements(function, tables),
        ]
        if function == ingest_function:
            statements.append(
                _statement(
                    "ReadAnnouncedObjects",
                    ["s3:GetObject", "s3:GetObjectVersion"],
                    [{"Fn::Sub": f"${{IngestBucket.Arn}}/{prefix}*"} for prefix in NOTIFY_PREFIXES],
                )
            )
            statements.append(
                _statement("ConsumeIngestQueue", INGEST_QUEUE_ACTIONS, [{"Fn::GetAtt": ["IngestQueue", "Arn"]}])
            )
        scans_objects = [{"Fn::Sub": f"${{ScansBucket.Arn}}/{SCANS_PREFIX}*"}]
        if function == "thumbnails":
            # Reads the announced originals and writes the previews beside them; consumes its own queue only.
            statements.append(_statement("ScanObjects", ["s3:GetObject", "s3:PutObject"], scans_objects))
            # Device images: reads the raw objects the ingest bucket announces, writes their previews.
            statements.append(
                _statement("ReadDeviceImages", ["s3:GetObject"], [{"Fn::Sub": f"${{IngestBucket.Arn}}/{RAW_PREFIX}*"}])
            )
            statements.append(
                _statement(
                    "WriteDevicePreviews", ["s3:PutObject"], [{"Fn::Sub": f"${{IngestBucket.Arn}}/{PREVIEWS_PREFIX}*"}]
                )
            )
            statements.append(
                _statement("ConsumeThumbnailsQueue", INGEST_QUEUE_ACTIONS, [{"Fn::GetAtt": ["ThumbnailsQueue", "Arn"]}])
            )
        if function == "api":
            # The presigned POST policies and GET URLs it hands out act with these rights (uploads and views
            # of scans/ only); confirm reads the upload back.
            statements.append(_statement("ScanObjects", ["s3:GetObject", "s3:PutObject"], scans_objects))
            # PUT /agents/{agent}/config publishes the agent's configuration where the agent polls it.
            statements.append(
                _statement(
                    "PublishAgentConfigs", ["s3:PutObject"], [{"Fn::Sub": f"${{IngestBucket.Arn}}/{CONFIG_PREFIX}*"}]
                )
            )
        if function == "notify":
            statements += _notify_statements()
        if function == secret_reader:
            statements += _secret_statements(secret_parameter)
            statements += _secret_statements(ANTHROPIC_KEY_PARAMETER, "AnthropicKey")
        documents[function] = {"Version": "2012-10-17", "Statement": statements}
    return documents


def _notify_statements() -> list[dict[str, Any]]:
    """Web push: read the outbox's stream, put jobs on and consume its own queue, hand stream records it could
    not process to the DLQ (the stream mapping's on-failure destination acts with the function's role), and
    read the VAPID private key."""
    queue = [{"Fn::GetAtt": ["NotificationsQueue", "Arn"]}]
    return [
        _statement("ReadEventsStream", STREAM_ACTIONS, [{"Fn::GetAtt": [table_logical_id("events"), "StreamArn"]}]),
        _statement(
            "ListEventsStreams",
            ["dynamodb:ListStreams"],
            [{"Fn::Sub": f"${{{table_logical_id('events')}.Arn}}/stream/*"}],
        ),
        _statement("ConsumeNotificationsQueue", [*INGEST_QUEUE_ACTIONS, "sqs:SendMessage", "sqs:GetQueueUrl"], queue),
        _statement(
            "FailedStreamRecordsToDlq",
            ["sqs:SendMessage"],
            [{"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]}],
        ),
        *_secret_statements(VAPID_KEY_PARAMETER, "VapidKey"),
    ]


def policy_file(function: str) -> str:
    """The file name under cloud/.chalice/ that config.json names for `function`."""
    return f"policy-{function}.json"


# What an edge agent may write: its clinic's objects and its own agent folder, PutObject only (no Delete,
# no List). The clinic and agent come from the caller's IAM tags (`clinic`, `agent` on the
# agent's IAM user, or session tags on the agent role), so one clinic's agent cannot write under another
# clinic's prefix; ingest then checks the body names the clinic of the key. assignments/ carries the
# patient ids the edge learns (edge_agent/intake/assignment.py); probes/ is `medflow-edge doctor`'s probe.
# The one object it may read is its own published configuration (docs/edge_agent.md "Remote configuration"),
# which it may not write: the cloud publishes it.
AGENT_CLINIC_PREFIXES = ("raw", "envelopes", "quarantine", "assignments")
AGENT_OWN_PREFIXES = ("agents", "probes")


def agent_policy() -> dict[str, Any]:
    clinic, agent = "${!aws:PrincipalTag/clinic}", "${!aws:PrincipalTag/agent}"
    resources = [{"Fn::Sub": f"${{IngestBucket.Arn}}/{p}/{clinic}/*"} for p in AGENT_CLINIC_PREFIXES]
    resources += [{"Fn::Sub": f"${{IngestBucket.Arn}}/{p}/{clinic}/{agent}/*"} for p in AGENT_OWN_PREFIXES]
    own_config = {"Fn::Sub": f"${{IngestBucket.Arn}}/{CONFIG_PREFIX}{clinic}/{agent}.json"}
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement("AgentPutsItsClinicsObjects", ["s3:PutObject"], resources),
            _statement("AgentReadsItsConfiguration", ["s3:GetObject"], [own_config]),
        ],
    }
