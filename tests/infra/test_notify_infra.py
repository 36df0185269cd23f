"""Web push in the template: the outbox table's stream and the notifications queue feed `notify` with partial batch
failures, failed stream batches and jobs end in one DLQ with an alarm, and notify's role is least privilege (its
stream, its queue, the VAPID key parameter; the API never sees the private key)."""

from __future__ import annotations

import json

from chalicelib.resources import NOTIFICATIONS_MAX_RECEIVE_COUNT, PUSH_EVENT_TYPES
from infra.policies import FUNCTION_TABLES, VAPID_KEY_PARAMETER, policies, table_logical_id
from infra.template import build_template
from tests.infra.test_policies import allowed

TEMPLATE = build_template("prod")
RESOURCES = TEMPLATE["Resources"]


def test_the_outbox_table_streams_new_events() -> None:
    events = RESOURCES[table_logical_id("events")]["Properties"]
    assert events["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert "StreamSpecification" not in RESOURCES[table_logical_id("clinical")]["Properties"]


def test_notify_reads_the_stream_filtered_to_notifying_events_and_splits_failing_batches() -> None:
    mapping = RESOURCES["NotifyStreamEventSourceMapping"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_logical_id("events"), "StreamArn"]}
    assert mapping["FunctionName"] == {"Ref": "Notify"}
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True and mapping["MaximumRetryAttempts"] > 0
    dlq = {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]}
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": dlq}}
    [pattern] = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern["eventName"] == ["INSERT"]
    assert pattern["dynamodb"]["NewImage"]["type"]["S"] == list(PUSH_EVENT_TYPES)


def test_delivery_jobs_retry_then_rest_in_the_dlq_with_an_alarm() -> None:
    queue = RESOURCES["NotificationsQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": NOTIFICATIONS_MAX_RECEIVE_COUNT,
    }
    assert queue["SqsManagedSseEnabled"] is True
    mapping = RESOURCES["NotifyQueueEventSourceMapping"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["NotificationsQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    alarm = RESOURCES["NotificationsDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["NotificationsDeadLetterQueue", "QueueName"]}


def test_only_notify_is_told_where_the_vapid_private_key_is() -> None:
    notify = RESOURCES["Notify"]["Properties"]["Environment"]["Variables"]
    api = RESOURCES["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert notify["MEDFLOW_VAPID_PRIVATE_KEY_PARAM"] == {"Ref": VAPID_KEY_PARAMETER}
    assert notify["MEDFLOW_VAPID_SUBJECT"] == {"Ref": "VapidSubject"}
    assert api["MEDFLOW_VAPID_PUBLIC_KEY"] == {"Ref": "VapidPublicKey"}
    assert not any("PRIVATE" in name for name in api)
    assert TEMPLATE["Parameters"][VAPID_KEY_PARAMETER]["Default"] == "/medflow/prod/vapid-private-key"
    assert "NotifyLogGroup" in RESOURCES


def test_notify_s_role_is_its_stream_its_queue_and_its_key() -> None:
    assert allowed("notify", "dynamodb:GetRecords", table_logical_id("events"))
    assert not allowed("api", "dynamodb:GetRecords", table_logical_id("events"))
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:SendMessage"):
        assert allowed("notify", action, "NotificationsQueue")
        assert not allowed("notify", action, "IngestQueue")
        assert not allowed("api", action, "NotificationsQueue")
    assert allowed("notify", "sqs:SendMessage", "NotificationsDeadLetterQueue")  # the stream's on-failure destination
    assert allowed("notify", "dynamodb:DeleteItem", table_logical_id("clinical"))  # 404/410: the subscription goes
    assert not allowed("notify", "dynamodb:GetItem", table_logical_id("sessions"))
    documents = policies(FUNCTION_TABLES)
    notify, api = json.dumps(documents["notify"]), json.dumps(documents["api"])
    assert VAPID_KEY_PARAMETER in notify and VAPID_KEY_PARAMETER not in api
    assert "JwtSecretParameter" not in notify
    assert "s3:" not in notify
