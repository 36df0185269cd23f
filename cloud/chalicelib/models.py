"""Domain records the services and the API work with; the db/ repositories translate PynamoDB items to these."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

T = TypeVar("T")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class StoredReading(_Record):
    """One reading of a matched envelope, as kept per patient."""

    clinic_id: str
    patient_id: str
    envelope_id: str
    index: int  # position in the envelope's readings
    kind: str
    captured_at: datetime | None
    received_at: datetime
    agent_id: str
    adapter: dict[str, Any]
    device: dict[str, Any]
    raw_key: str
    reading: dict[str, Any]
    # Image readings: the preview the thumbnails Lambda made of the raw image (services/previews.py).
    thumbnail_key: str | None = None
    thumbnail_status: str | None = None
    thumbnail_reason: str | None = None


class PatientRecord(_Record):
    """The latest demographics of one patient, from the newest `patient_update` envelope (PHI: never logged)."""

    clinic_id: str
    patient_id: str
    id_source: str | None = None
    family_name: str | None = None
    given_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    other_ids: list[str] = Field(default_factory=list)
    updated_at: datetime  # the envelope's captured_at, else when the agent received it
    envelope_id: str  # the envelope these values came from
    event: str | None = None  # HL7 ADT trigger: A01 admit, A03 discharge, A04 register, A08 update


class StoredPatient(_Record):
    """Everything stored about one patient: registered (staff) fields and the last ADT values side by side;
    `services/patients.py` merges them (PHI: never logged)."""

    clinic_id: str
    patient_id: str
    id_source: str | None = None
    first_seen_at: str | None = None
    family_name: str | None = None  # ADT
    given_name: str | None = None  # ADT
    birth_date: str | None = None  # ADT
    sex: str | None = None  # ADT (HL7 code: F, M, O, U, ...)
    other_ids: list[str] = Field(default_factory=list)  # ADT
    updated_at: str | None = None  # ADT
    envelope_id: str | None = None  # ADT
    event: str | None = None  # ADT
    op_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    registered_sex: str | None = None
    date_of_birth: str | None = None
    age: int | None = None
    phone: str | None = None
    national_id: str | None = None
    insurance_type: str | None = None
    registration_type: str | None = None
    registered_at: str | None = None
    registered_by: str | None = None
    edited_at: str | None = None
    version: int = 0
    scan_frequency: int | None = None  # days between remote scans (None: the default)

    @field_validator("age", "scan_frequency", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        return None if value is None else int(value)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> int:
        return int(value or 0)


class UnmatchedEnvelope(_Record):
    """An envelope that arrived without a patient id; staff match it to a patient later."""

    clinic_id: str
    envelope_id: str
    agent_id: str
    received_at: datetime
    captured_at: datetime | None
    adapter: dict[str, Any]
    device: dict[str, Any]
    source: dict[str, Any]
    raw_key: str
    readings: list[dict[str, Any]]


class QuarantineItem(_Record):
    clinic_id: str
    agent_id: str
    sha256: str
    reason: str
    detail: str
    adapter: str | None
    quarantined_at: datetime
    source: dict[str, Any]
    raw_key: str


class AgentStatus(_Record):
    """An edge agent: its last heartbeat plus counters the ingest maintains on write."""

    clinic_id: str
    agent_id: str
    version: str | None = None
    sent_at: datetime | None = None
    started_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict)  # spool items per state, as the agent reported
    last_upload_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    envelopes_ingested: int = 0
    readings_ingested: int = 0
    unmatched_ingested: int = 0
    quarantined: int = 0
    last_ingest_at: datetime | None = None
    # Fleet health (docs/edge_agent.md): from the last heartbeat, and the alerts open for this agent.
    interval_seconds: int | None = None
    devices: list[dict[str, Any]] = Field(default_factory=list)  # per source/device: last_seen_at, items, ...
    oldest_pending_at: datetime | None = None
    errors_by_kind: dict[str, int] = Field(default_factory=dict)
    pending_bytes: int | None = None
    open_alerts: int = 0
    uptime_seconds: int | None = None  # as of the last heartbeat
    oldest_pending_age_seconds: int | None = None  # as of the last heartbeat
    silent: bool = False  # no heartbeat for longer than its silence threshold, as of this answer
    # Remote configuration (docs/edge_agent.md): the version the agent reports it runs on (None: its local
    # TOML), the last version published to it (0: none), and the last version it refused, with why.
    config_version: int | None = None
    config_published_version: int = 0
    config_error: dict[str, Any] | None = None


class StaffUser(_Record):
    user_id: str
    clinic_id: str
    email: str
    role: str
    password_hash: str = Field(repr=False, exclude=True)
    active: bool = True
    created_at: datetime
    name: str = ""
    org_id: str | None = None
    org_admin: bool = False


class AuditEvent(_Record):
    """Who did what, when, to which ids, from where. Never names, results, passwords or tokens."""

    clinic_id: str | None = None  # None for events no clinic can be attributed to (login with an unknown email)
    actor: str  # "user:<id>", "patient:<id>", "system:ingest", "cli", "anonymous"
    action: str  # e.g. "auth.login", "patient.registered", "patient.read", "access.denied"
    outcome: str = "success"  # success | failure | denied
    role: str | None = None
    resource: str | None = None  # e.g. "patient", "user", "clinic"
    resource_id: str | None = None
    request_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    target: dict[str, str] = Field(default_factory=dict)  # further ids only
    at: datetime
    id: str | None = None  # assigned when stored


class DomainEvent(_Record):
    """A state change, as the outbox keeps it for real-time delivery and notifications (ids, no PHI)."""

    id: str  # sortable: time then randomness; `GET /events?after=ID` continues from it
    clinic_id: str
    type: str  # e.g. "patient.registered", "user.deactivated"
    subject: dict[str, str]  # the ids the event is about
    actor: str
    at: datetime


class Page(_Record, Generic[T]):
    items: list[T]
    next: str | None = None
