"""The cloud side as a CloudFormation template, built from the same resource definitions the local
bootstrap uses (`cloud/chalicelib/resources.py`), so local and deployed stacks cannot drift.

It holds what Chalice cannot package itself: the ingest bucket (encrypted, versioned, public
access blocked) and its notification to the ingest queue, the queue and its DLQ, the DynamoDB
tables (point-in-time recovery, encryption, TTL where a table has one), the `ingest` event source
mapping with ReportBatchItemFailures (Chalice's `on_sqs_message` cannot set it), a DLQ alarm, the
shared-models layer both functions need, each function's log group, and the name of the SSM SecureString
holding the JWT signing key (read by the API alone). Each function's role comes from infra/policies.py. It is merged
into Chalice's SAM template: `make package STAGE=prod` runs `chalice package --merge-template`
with it, so `Ingest` and `APIHandler` below are the Chalice-built functions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "cloud"))

from chalicelib.resources import (  # noqa: E402 - cloud/ is not a package; chalice puts it on the path
    DLQ_MAX_RECEIVE_COUNT,
    DLQ_RETENTION_SECONDS,
    INGEST_VISIBILITY_TIMEOUT_SECONDS,
    NOTIFICATIONS_MAX_RECEIVE_COUNT,
    NOTIFICATIONS_VISIBILITY_TIMEOUT_SECONDS,
    NOTIFY_LAMBDA_TIMEOUT_SECONDS,
    NOTIFY_PREFIXES,
    PUSH_EVENT_TYPES,
    QUEUE_RETENTION_SECONDS,
    RAW_PREFIX,
    SCANS_PREFIX,
    TABLES,
    THUMBNAILS_LAMBDA_TIMEOUT_SECONDS,
    THUMBNAILS_VISIBILITY_TIMEOUT_SECONDS,
    ResourceNames,
    TableSpec,
    account_queue_policy,
    bucket_policy,
    scans_bucket_policy,
    scans_cors,
    table_definition,
    thumbnails_queue_policy,
)
from infra.gateway import gateway_responses  # noqa: E402
from infra.policies import (  # noqa: E402
    ANTHROPIC_KEY_PARAMETER,
    FUNCTION_TABLES,
    JWT_SECRET_PARAMETER,
    LOGICAL_IDS,
    VAPID_KEY_PARAMETER,
    agent_policy,
    log_group_logical_id,
    policies,
    policy_file,
    table_logical_id,
)

INGEST_FUNCTION = LOGICAL_IDS["ingest"]  # the logical id Chalice gives `@app.lambda_function(name="ingest")`
API_FUNCTION = LOGICAL_IDS["api"]  # the logical id of Chalice's REST API function
THUMBNAILS_FUNCTION = LOGICAL_IDS["thumbnails"]
PORTAL_ORIGIN_PARAMETER = "PortalOrigin"
PORTAL_URL_PARAMETER = "PortalUrl"
NOTIFY_FUNCTION = LOGICAL_IDS["notify"]
VAPID_PUBLIC_KEY_PARAMETER = "VapidPublicKey"
VAPID_SUBJECT_PARAMETER = "VapidSubject"
NOTIFY_STREAM_BATCH_SIZE = 100
NOTIFY_STREAM_RETRIES = 5
FLEET_FUNCTION = LOGICAL_IDS["fleet"]  # `@app.schedule(..., name="fleet")`: Chalice adds its EventBridge rule
LOG_RETENTION_DAYS = 365  # the logs carry ids, never PHI (see docs/cloud.md)
CHALICE_DIR = REPO / "cloud" / ".chalice"
INGEST_BATCH_SIZE = 10
LAYER = "SharedModelsLayer"
LAYER_ZIP = "shared-models.zip"  # built by layers/build.py; `make package` copies it beside the template
# API Gateway throttling (requests per second and burst, for all callers together), checked before
# the function runs: the stage as a whole, and tighter on the unauthenticated auth routes, each of
# which may cost an argon2 hash. The app's own per-address and overall login limits come after.
API_THROTTLE = {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100}
AUTH_ROUTE_THROTTLE = {"ThrottlingRateLimit": 5, "ThrottlingBurstLimit": 10}
AUTH_ROUTES = ("/auth/login", "/auth/refresh")
REST_API = "RestAPI"  # the logical id of Chalice's REST API
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"  # what `chalice package` gives the functions


def function_name(stage: str, function: str) -> str:
    """Named, not generated: each function's log group (and so its role's log permission) is known in advance."""
    return f"medflow-{stage}-{function}"


def _table(spec: TableSpec, name: str) -> dict[str, Any]:
    # AWS::DynamoDB::Table takes CreateTable's keys: the same definition the local bootstrap creates.
    props = {
        **table_definition(spec, name),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if spec.ttl_attribute:
        props["TimeToLiveSpecification"] = {"AttributeName": spec.ttl_attribute, "Enabled": True}
    if spec.stream:
        props["StreamSpecification"] = {"StreamViewType": spec.stream}  # CloudFormation's form: no StreamEnabled
    # Retain: a stack deleted by mistake must not take the clinics' records with it.
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": props,
    }


def method_settings() -> list[dict[str, Any]]:
    """The API stage's throttling: every method, then the auth routes (a path's `/` written `~1`)."""
    settings: list[dict[str, Any]] = [{"ResourcePath": "/*", "HttpMethod": "*", **API_THROTTLE}]
    for route in AUTH_ROUTES:
        path = "/" + route.replace("/", "~1")
        settings.append({"ResourcePath": path, "HttpMethod": "POST", **AUTH_ROUTE_THROTTLE})
    return settings


def build_template(
    stage: str, *, bucket: str | None = None, ingest_function: str | None = INGEST_FUNCTION
) -> dict[str, Any]:
    """The template for `stage`; `ingest_function=None` leaves out what refers to Chalice's resources."""
    names = ResourceNames.for_stage(stage, bucket)
    queue_arn = {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    resources: dict[str, Any] = {
        "IngestDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names.dlq,
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        "IngestQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names.queue,
                "VisibilityTimeout": INGEST_VISIBILITY_TIMEOUT_SECONDS,
                "MessageRetentionPeriod": QUEUE_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT,
                },
            },
        },
        "IngestQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "IngestQueue"}],
                "PolicyDocument": account_queue_policy(queue_arn, names.bucket, {"Ref": "AWS::AccountId"}),
            },
        },
        "IngestBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "IngestBucket"},
                "PolicyDocument": bucket_policy(
                    {"Fn::GetAtt": ["IngestBucket", "Arn"]}, {"Fn::Sub": "${IngestBucket.Arn}/*"}
                ),
            },
        },
        "IngestBucket": {
            "Type": "AWS::S3::Bucket",
            # S3 checks it may send to the queues when the notification is set: the policies come first.
            "DependsOn": ["IngestQueuePolicy", "ThumbnailsQueuePolicy"],
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": names.bucket,
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                # `medflow-edge doctor` writes one probe per agent under probes/ (never ingested) and may
                # not delete it (agent credentials only put): the bucket lets it expire.
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "expire-doctor-probes",
                            "Status": "Enabled",
                            "Prefix": "probes/",
                            "ExpirationInDays": 7,
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                        }
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "NotificationConfiguration": {
                    "QueueConfigurations": [
                        {
                            "Event": "s3:ObjectCreated:*",
                            "Queue": queue_arn,
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": prefix}]}},
                        }
                        for prefix in NOTIFY_PREFIXES
                    ]
                    + [
                        {
                            "Event": "s3:ObjectCreated:*",
                            "Queue": {"Fn::GetAtt": ["ThumbnailsQueue", "Arn"]},
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": RAW_PREFIX}]}},
                        }
                    ]
                },
            },
        },
        "IngestDeadLetterAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"{names.dlq}-not-empty",
                "AlarmDescription": "Envelopes that ingest could not process: read the DLQ, fix, redrive.",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["IngestDeadLetterQueue", "QueueName"]}}],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
            },
        },
    }
    resources.update(agent_resources(stage))
    for spec in TABLES:
        resources[table_logical_id(spec.key)] = _table(spec, names.table(spec.key))
    resources.update(scans_resources(names))
    resources.update(notifications_resources(names))
    if ingest_function:
        # shared_models reaches both functions as a layer (Chalice packages only app.py and chalicelib/);
        # Chalice's --merge-template merges these partial functions into the ones it generates.
        resources[LAYER] = {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "LayerName": f"medflow-{stage}-shared-models",
                "Description": "shared_models: the envelope and record schemas the edge agent and the cloud share",
                "ContentUri": f"./{LAYER_ZIP}",
                "CompatibleRuntimes": [RUNTIME],
                "RetentionPolicy": "Retain",
            },
        }
        # Only the API signs and checks tokens: it alone is told where the key is (an SSM SecureString,
        # read at its cold start), and only its role may read it. The key is in no environment.
        functions = (
            ("ingest", ingest_function),
            ("api", API_FUNCTION),
            ("thumbnails", THUMBNAILS_FUNCTION),
            ("fleet", FLEET_FUNCTION),
            ("notify", NOTIFY_FUNCTION),
        )
        for function, logical_id in functions:
            resources[logical_id] = {
                "Properties": {"FunctionName": function_name(stage, function), "Layers": [{"Ref": LAYER}]}
            }
            if function == "api":
                variables = {
                    "MEDFLOW_JWT_SECRET_PARAM": {"Ref": JWT_SECRET_PARAMETER},
                    "MEDFLOW_ANTHROPIC_KEY_PARAM": {"Ref": ANTHROPIC_KEY_PARAMETER},
                    "MEDFLOW_PORTAL_URL": {"Ref": PORTAL_URL_PARAMETER},
                    "MEDFLOW_VAPID_PUBLIC_KEY": {"Ref": VAPID_PUBLIC_KEY_PARAMETER},
                }
                resources[logical_id]["Properties"]["Environment"] = {"Variables": variables}
            if function == "notify":
                # Only notify signs pushes: it alone is told where the VAPID private key is (SSM, cold start).
                variables = {
                    "MEDFLOW_VAPID_PRIVATE_KEY_PARAM": {"Ref": VAPID_KEY_PARAMETER},
                    "MEDFLOW_VAPID_PUBLIC_KEY": {"Ref": VAPID_PUBLIC_KEY_PARAMETER},
                    "MEDFLOW_VAPID_SUBJECT": {"Ref": VAPID_SUBJECT_PARAMETER},
                }
                resources[logical_id]["Properties"]["Environment"] = {"Variables": variables}
                resources[logical_id]["Properties"]["Timeout"] = NOTIFY_LAMBDA_TIMEOUT_SECONDS
            if function == "thumbnails":
                resources[logical_id]["Properties"]["Timeout"] = THUMBNAILS_LAMBDA_TIMEOUT_SECONDS
            # Created here, so the role may write to this one group and need not create any.
            resources[log_group_logical_id(function)] = {
                "Type": "AWS::Logs::LogGroup",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "LogGroupName": f"/aws/lambda/{function_name(stage, function)}",
                    "RetentionInDays": LOG_RETENTION_DAYS,
                },
            }
        resources[REST_API] = {"Properties": {"MethodSettings": method_settings()}}
        # API Gateway's own refusals (unknown route, throttling, ...) in the API's error shape.
        resources.update(gateway_responses({"Ref": REST_API}))
        resources["IngestEventSourceMapping"] = {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": queue_arn,
                "FunctionName": {"Ref": ingest_function},
                "BatchSize": INGEST_BATCH_SIZE,
                # Powertools' batch processor returns batchItemFailures: only those are retried.
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
        resources["ThumbnailsEventSourceMapping"] = {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["ThumbnailsQueue", "Arn"]},
                "FunctionName": {"Ref": THUMBNAILS_FUNCTION},
                "BatchSize": INGEST_BATCH_SIZE,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
        resources.update(notify_mappings())
    parameters = {
        **vapid_parameters(stage),
        PORTAL_ORIGIN_PARAMETER: {
            "Type": "CommaDelimitedList",
            "Default": "https://portal.medflow.example",
            "Description": "the patient portal's origin(s): the scans bucket's CORS allows them to upload and view",
        },
        PORTAL_URL_PARAMETER: {
            "Type": "String",
            "Default": "https://portal.medflow.example",
            "AllowedPattern": r"^https://[^\s/?#]+(/[^\s?#]*)?$",
            "Description": "the patient portal's address: invite links are {url}/register/{token}",
        },
        ANTHROPIC_KEY_PARAMETER: {
            "Type": "String",
            "Default": f"/medflow/{stage}/anthropic-api-key",
            "AllowedPattern": r"^/[A-Za-z0-9_.\-/]+$",
            "Description": "name of the SSM SecureString holding the Claude API key for AI tag suggestions "
            "(until it exists, suggestions answer 503 ai_unavailable and doctors tag by hand)",
        },
        JWT_SECRET_PARAMETER: {
            "Type": "String",
            "Default": f"/medflow/{stage}/jwt-secret",
            "AllowedPattern": r"^/[A-Za-z0-9_.\-/]+$",
            "Description": "name of the SSM SecureString holding the HS256 signing key of the staff API's tokens "
            "(create it before deploying: CloudFormation cannot create a SecureString)",
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"MedFlow {stage}: ingest bucket, queues, tables and ingest wiring",
        "Parameters": parameters if ingest_function else {PORTAL_ORIGIN_PARAMETER: parameters[PORTAL_ORIGIN_PARAMETER]},
        "Resources": resources,
        "Outputs": {
            "IngestBucketName": {"Value": {"Ref": "IngestBucket"}},
            "IngestQueueUrl": {"Value": {"Ref": "IngestQueue"}},
            "ScansBucketName": {"Value": {"Ref": "ScansBucket"}},
        },
    }


def vapid_parameters(stage: str) -> dict[str, Any]:
    return {
        VAPID_KEY_PARAMETER: {
            "Type": "String",
            "Default": f"/medflow/{stage}/vapid-private-key",
            "AllowedPattern": r"^/[A-Za-z0-9_.\-/]+$",
            "Description": "name of the SSM SecureString holding the VAPID private key of web push (raw base64url; "
            "`make vapid` makes a pair); read by the notify function alone",
        },
        VAPID_PUBLIC_KEY_PARAMETER: {
            "Type": "String",
            "AllowedPattern": r"^[A-Za-z0-9_-]{87}$",
            "Description": "the VAPID public key (base64url) the portal subscribes with",
        },
        VAPID_SUBJECT_PARAMETER: {
            "Type": "String",
            "AllowedPattern": r"^(mailto:|https://)\S+$",
            "Description": "the contact push services may use about this sender (mailto: or https:)",
        },
    }


def notify_mappings() -> dict[str, Any]:
    """The notify function's two sources: new outbox events (the stream, filtered to the types that notify) and
    its own queue of deliveries. A stream batch that keeps failing is split, retried, and then its position
    (shard, sequence numbers) goes to the DLQ; the events themselves stay in the outbox table for 30 days."""
    pattern = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"type": {"S": list(PUSH_EVENT_TYPES)}}}}
    return {
        "NotifyStreamEventSourceMapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": [table_logical_id("events"), "StreamArn"]},
                "FunctionName": {"Ref": NOTIFY_FUNCTION},
                # Not TRIM_HORIZON: a first deployment must not notify a day of old events.
                "StartingPosition": "LATEST",
                "BatchSize": NOTIFY_STREAM_BATCH_SIZE,
                "FilterCriteria": {"Filters": [{"Pattern": json.dumps(pattern)}]},
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": NOTIFY_STREAM_RETRIES,
                "DestinationConfig": {
                    "OnFailure": {"Destination": {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]}}
                },
            },
        },
        "NotifyQueueEventSourceMapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["NotificationsQueue", "Arn"]},
                "FunctionName": {"Ref": NOTIFY_FUNCTION},
                "BatchSize": INGEST_BATCH_SIZE,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        },
    }


def notifications_resources(names: ResourceNames) -> dict[str, Any]:
    """The web push jobs queue (one per event and subscription, written by notify only) and its DLQ with an alarm."""
    return {
        "NotificationsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names.notifications_dlq,
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        "NotificationsQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names.notifications_queue,
                "VisibilityTimeout": NOTIFICATIONS_VISIBILITY_TIMEOUT_SECONDS,
                "MessageRetentionPeriod": QUEUE_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": NOTIFICATIONS_MAX_RECEIVE_COUNT,
                },
            },
        },
        "NotificationsDeadLetterAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"{names.notifications_dlq}-not-empty",
                "AlarmDescription": "Web pushes that failed every try, or outbox stream batches notify could not "
                "read: read the DLQ (ids only), fix, redrive.",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [
                    {"Name": "QueueName", "Value": {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "QueueName"]}}
                ],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
            },
        },
    }


def scans_resources(names: ResourceNames) -> dict[str, Any]:
    """The scans bucket (private, TLS only, CORS for the portal) announcing `scans/` to the thumbnails queue."""
    queue_arn = {"Fn::GetAtt": ["ThumbnailsQueue", "Arn"]}
    cors = scans_cors(["PORTAL"])["CORSRules"][0]
    cors["AllowedOrigins"] = {"Ref": PORTAL_ORIGIN_PARAMETER}
    cors["MaxAge"] = cors.pop("MaxAgeSeconds")
    cors["ExposedHeaders"] = cors.pop("ExposeHeaders")
    return {
        "ThumbnailsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names.thumbnails_dlq,
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        "ThumbnailsQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": names.thumbnails_queue,
                "VisibilityTimeout": THUMBNAILS_VISIBILITY_TIMEOUT_SECONDS,
                "MessageRetentionPeriod": QUEUE_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["ThumbnailsDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT,
                },
            },
        },
        "ThumbnailsQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "ThumbnailsQueue"}],
                "PolicyDocument": thumbnails_queue_policy(
                    queue_arn, [names.scans_bucket, names.bucket], {"Ref": "AWS::AccountId"}
                ),
            },
        },
        "ScansBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "ScansBucket"},
                "PolicyDocument": scans_bucket_policy(
                    {"Fn::GetAtt": ["ScansBucket", "Arn"]}, {"Fn::Sub": "${ScansBucket.Arn}/*"}
                ),
            },
        },
        "ScansBucket": {
            "Type": "AWS::S3::Bucket",
            "DependsOn": "ThumbnailsQueuePolicy",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": names.scans_bucket,
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "CorsConfiguration": {"CorsRules": [cors]},
                "NotificationConfiguration": {
                    "QueueConfigurations": [
                        {
                            "Event": "s3:ObjectCreated:*",
                            "Queue": queue_arn,
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": SCANS_PREFIX}]}},
                        }
                    ]
                },
            },
        },
        "ThumbnailsDeadLetterAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"{names.thumbnails_dlq}-not-empty",
                "AlarmDescription": "Scan uploads whose preview could not be made (S3/DynamoDB trouble): read the DLQ.",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [
                    {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ThumbnailsDeadLetterQueue", "QueueName"]}}
                ],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
            },
        },
    }


def agent_resources(stage: str) -> dict[str, Any]:
    """Edge agent credentials (docs/edge_agent.md): a managed policy, the group agent IAM users join (tagged
    `clinic` and `agent`), and a role for agents given session credentials tagged the same way."""
    return {
        "AgentPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": f"medflow-{stage}-edge-agent",
                "Description": "MedFlow edge agent: PutObject only, under its own clinic's and agent's prefixes",
                "PolicyDocument": agent_policy(),
            },
        },
        "AgentGroup": {
            "Type": "AWS::IAM::Group",
            "Properties": {"GroupName": f"medflow-{stage}-edge-agents", "ManagedPolicyArns": [{"Ref": "AgentPolicy"}]},
        },
        "AgentRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"medflow-{stage}-edge-agent",
                "Description": "Assumed with session tags clinic and agent (both required) by a credential broker",
                "MaxSessionDuration": 3600,
                "ManagedPolicyArns": [{"Ref": "AgentPolicy"}],
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                            "Action": ["sts:AssumeRole", "sts:TagSession"],
                            "Condition": {
                                "StringLike": {"aws:RequestTag/clinic": "?*", "aws:RequestTag/agent": "?*"},
                                "ForAllValues:StringEquals": {"aws:TagKeys": ["clinic", "agent"]},
                            },
                        }
                    ],
                },
            },
        },
    }


def write_policies(directory: Path) -> list[Path]:
    """Writes each function's IAM policy where `.chalice/config.json` names it (the same for every stage)."""
    written = []
    for function, document in policies(FUNCTION_TABLES).items():
        path = directory / policy_file(function)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--bucket", help="ingest bucket name (S3 names are global)")
    parser.add_argument("--out", type=Path, default=REPO / "var" / "infra" / "resources.json")
    parser.add_argument("--policies-dir", type=Path, default=CHALICE_DIR, help="where config.json finds the policies")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(build_template(args.stage, bucket=args.bucket), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    for path in write_policies(args.policies_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
