"""Builders for the cloud tests: realistic envelopes (shared_models), S3 notifications, Lambda SQS events, tokens."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import boto3

from chalicelib import vapid
from chalicelib.resources import ResourceNames
from chalicelib.services import tokens
from chalicelib.services.roles import Role
from chalicelib.services.users import ensure_user
from chalicelib.settings import Settings, get_settings
from shared_models import (
    AdapterInfo,
    AgentHeartbeat,
    Demographics,
    DeviceInfo,
    Envelope,
    PatientRef,
    QuarantineReason,
    QuarantineRecord,
    RawObject,
    SourceInfo,
    Tonometry,
)
from shared_models.s3keys import envelope_key, heartbeat_key, quarantine_key, raw_key

STAGE = "test"
REGION = "us-east-1"
JWT_SECRET = "tests-only-hs256-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
# Web push: a VAPID pair for the tests' settings (the portal reads the public key; `notify` signs with the private).
VAPID_PRIVATE_KEY, VAPID_PUBLIC_KEY = vapid.generate()
VAPID_SUBJECT = "mailto:push-tests@medflow.example"
RECEIVED = datetime(2026, 11, 3, 9, 15, 0, tzinfo=UTC)


def call(api: Any, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    """One JSON request through a chalice test client (`api`) with `headers` (e.g. `bearer(...)`)."""
    response = api.http.request(method, path, headers={**headers, "Content-Type": "application/json"},
                                body=json.dumps(body).encode() if body is not None else b"")  # fmt: skip
    return response.status_code, response.json_body


def make_user(clinic_id: str, email: str, role: Role = Role.ADMIN) -> str:
    return ensure_user(clinic_id, email, PASSWORD, role)


def bearer(
    clinic_id: str,
    role: Role = Role.ADMIN,
    user_id: str = "u-test",
    settings: Settings | None = None,
    *,
    org_id: str | None = None,
    org_admin: bool = False,
    patient_id: str | None = None,
) -> dict[str, str]:
    """Headers with a staff token (or, for `Role.PATIENT`, a patient token naming `patient_id`)."""
    if role is Role.PATIENT and patient_id is None:
        patient_id = "P-token-holder"
    token = tokens.issue(
        user_id=user_id,
        clinic_id=clinic_id,
        role=role.value,
        settings=settings or get_settings(),
        org_id=org_id,
        org_admin=org_admin,
        patient_id=patient_id,
    )
    return {"Authorization": f"Bearer {token.token}"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_envelope(
    *,
    clinic_id: str = "demo",
    patient_id: str | None = "P-1001",
    seed: str = "topascope-1",
    agent_id: str = "agent-1",
    iops: tuple[float, ...] = (16.0, 24.0, 15.0),
    captured_at: datetime | None = datetime(2026, 11, 3, 9, 14, 2, tzinfo=UTC),
) -> Envelope:
    """A TopaScope-like tonometry capture: three OD air-puff readings plus the representative average."""
    digest = sha(seed)
    readings = [Tonometry(eye="OD", iop_mmhg=value, method="air-puff", representative=False) for value in iops]
    readings.append(Tonometry(eye="OD", iop_mmhg=round(sum(iops) / len(iops), 1), representative=True))
    return Envelope(
        envelope_id=digest,
        clinic_id=clinic_id,
        agent_id=agent_id,
        source=SourceInfo(kind="folder", uri="file:///srv/inbox/export.xml", received_at=RECEIVED),
        raw=RawObject(
            key=raw_key(clinic_id, RECEIVED, digest, ".xml"),
            sha256=digest,
            size=2048,
            media_type="application/xml",
            original_name="export.xml",
        ),
        patient=PatientRef(id=patient_id, id_source="vendor_xml" if patient_id else None),
        device=DeviceInfo(vendor="Tomey", model="TOP-1000", kind="tonometer", serial="T1000-42"),
        adapter=AdapterInfo(name="tomey_topascope_xml", version="1.0.0"),
        captured_at=captured_at,
        readings=readings,
    )


def make_patient_update(
    *,
    clinic_id: str = "demo",
    patient_id: str | None = "P-1001",
    seed: str = "adt-1",
    event: str = "A08",
    family_name: str = "Kamau",
    given_name: str = "Wanjiru",
    captured_at: datetime | None = datetime(2026, 11, 3, 9, 14, 2, tzinfo=UTC),
) -> Envelope:
    """An HL7 ADT-like patient update as the edge's hl7 adapter builds it: PID demographics, no readings."""
    digest = sha(seed)
    return Envelope(
        envelope_id=digest,
        kind="patient_update",
        clinic_id=clinic_id,
        agent_id="agent-1",
        source=SourceInfo(kind="mllp", uri="mllp://10.0.0.5:2575", received_at=RECEIVED),
        raw=RawObject(
            key=raw_key(clinic_id, RECEIVED, digest, ".hl7"),
            sha256=digest,
            size=512,
            media_type="application/hl7-v2",
        ),
        patient=PatientRef(
            id=patient_id,
            id_source="hl7_pid" if patient_id else None,
            demographics=Demographics(
                family_name=family_name,
                given_name=given_name,
                birth_date="1984-02-29",
                sex="F",
                other_ids=["NHIF-778812"],
            ),
        ),
        device=DeviceInfo(vendor="CLINIC-HIS", model="ADT"),
        adapter=AdapterInfo(name="hl7v2", version="1.0.0"),
        captured_at=captured_at,
        context={"event": event, "message_control_id": f"MSG-{seed}"},
    )


def make_quarantine(clinic_id: str = "demo", seed: str = "junk-1") -> QuarantineRecord:
    digest = sha(seed)
    return QuarantineRecord(
        reason=QuarantineReason.UNKNOWN_FORMAT,
        detail="no adapter recognised the content",
        clinic_id=clinic_id,
        agent_id="agent-1",
        source=SourceInfo(kind="folder", uri="file:///srv/inbox/junk.bin", received_at=RECEIVED),
        raw=RawObject(key=raw_key(clinic_id, RECEIVED, digest, ".bin"), sha256=digest, size=12),
        quarantined_at=RECEIVED,
    )


def make_heartbeat(clinic_id: str = "demo", agent_id: str = "agent-1", minute: int = 0) -> AgentHeartbeat:
    return AgentHeartbeat(
        clinic_id=clinic_id,
        agent_id=agent_id,
        version="0.1.0",
        sent_at=RECEIVED.replace(minute=minute),
        started_at=RECEIVED,
        counts={"uploaded": 7, "quarantined": 1, "received": 0},
        last_upload_at=RECEIVED,
    )


def put_envelope(names: ResourceNames, envelope: Envelope, key: str | None = None) -> str:
    key = key or envelope_key(envelope.clinic_id, envelope.source.received_at, envelope.envelope_id)
    boto3.client("s3", region_name=REGION, endpoint_url=_endpoint()).put_object(
        Bucket=names.bucket, Key=key, Body=envelope.to_json().encode()
    )
    return key


def put_object(names: ResourceNames, key: str, body: bytes) -> str:
    boto3.client("s3", region_name=REGION, endpoint_url=_endpoint()).put_object(Bucket=names.bucket, Key=key, Body=body)
    return key


def quarantine_object_key(record: QuarantineRecord) -> str:
    return quarantine_key(record.clinic_id, record.raw.sha256)


def heartbeat_object_key(heartbeat: AgentHeartbeat) -> str:
    return heartbeat_key(heartbeat.clinic_id, heartbeat.agent_id)


def _endpoint() -> str | None:
    return get_settings().endpoint_url


def s3_notification(bucket: str, key: str) -> str:
    """The body S3 posts to SQS for one ObjectCreated:Put (keys quote_plus-encoded, as AWS and moto send them)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventTime": RECEIVED.isoformat(),
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "size": 1}},
                }
            ]
        }
    )


def sqs_event(*bodies: str) -> dict[str, Any]:
    """A Lambda SQS event with one record per body (messageId m0, m1, ...)."""
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"rh{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:medflow-{STAGE}-ingest",
                "awsRegion": REGION,
            }
            for i, body in enumerate(bodies)
        ]
    }
