"""PynamoDB models, one per table in `resources.TABLES`; names, endpoint and region are bound from the settings."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.settings import Settings, get_settings

UNBOUND = "unbound"  # replaced by `bound()` before any call reaches DynamoDB


class _Item(Model):
    """Common key attributes. `TABLE` names the spec in resources.TABLES."""

    TABLE = ""

    class Meta:
        table_name = UNBOUND

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class ReadingsByKind(LocalSecondaryIndex["ReadingItem"]):
    class Meta:
        index_name = "by_kind"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    kind_sk = UnicodeAttribute(range_key=True)


class ReadingItem(_Item):
    TABLE = "readings"

    class Meta:
        table_name = UNBOUND

    kind_sk = UnicodeAttribute()
    by_kind = ReadingsByKind()
    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    envelope_id = UnicodeAttribute()
    index = NumberAttribute()
    kind = UnicodeAttribute()
    captured_at = UnicodeAttribute(null=True)  # ISO text as the device wrote it (may lack an offset)
    received_at = UTCDateTimeAttribute()
    agent_id = UnicodeAttribute()
    adapter = JSONAttribute()
    device = JSONAttribute()
    raw_key = UnicodeAttribute()
    reading = JSONAttribute()


class PatientItem(_Item):
    TABLE = "patients"

    class Meta:
        table_name = UNBOUND

    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    id_source = UnicodeAttribute(null=True)
    family_name = UnicodeAttribute(null=True)
    given_name = UnicodeAttribute(null=True)
    birth_date = UnicodeAttribute(null=True)
    sex = UnicodeAttribute(null=True)
    other_ids = JSONAttribute(null=True)
    updated_at = UnicodeAttribute()  # ISO text as the sender wrote it (HL7 times often lack an offset)
    # `{sortable updated_at}#{envelope_id}`: the upsert condition compares it, so an older update loses.
    update_order = UnicodeAttribute()
    envelope_id = UnicodeAttribute()
    event = UnicodeAttribute(null=True)  # HL7 trigger of the last update: A01, A03, A04, A08


class UnmatchedItem(_Item):
    TABLE = "unmatched"

    class Meta:
        table_name = UNBOUND

    clinic_id = UnicodeAttribute()
    envelope_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    captured_at = UnicodeAttribute(null=True)
    adapter = JSONAttribute()
    device = JSONAttribute()
    source = JSONAttribute()
    raw_key = UnicodeAttribute()
    readings = JSONAttribute()


class QuarantineItemRow(_Item):
    TABLE = "quarantine"

    class Meta:
        table_name = UNBOUND

    clinic_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    sha256 = UnicodeAttribute()
    reason = UnicodeAttribute()
    detail = UnicodeAttribute()
    adapter = UnicodeAttribute(null=True)
    quarantined_at = UTCDateTimeAttribute()
    source = JSONAttribute()
    raw_key = UnicodeAttribute()


class AgentItem(_Item):
    TABLE = "agents"

    class Meta:
        table_name = UNBOUND

    clinic_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    version = UnicodeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    counts = JSONAttribute(null=True)
    last_upload_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    # Maintained on write by the ingest handler (ADD), so GET /agents needs no aggregation.
    envelopes_ingested = NumberAttribute(null=True)
    readings_ingested = NumberAttribute(null=True)
    unmatched_ingested = NumberAttribute(null=True)
    quarantined = NumberAttribute(null=True)
    last_ingest_at = UTCDateTimeAttribute(null=True)


class UsersByEmail(GlobalSecondaryIndex["UserItem"]):
    class Meta:
        index_name = "by_email"
        projection = AllProjection()

    email = UnicodeAttribute(hash_key=True)


class UserItem(_Item):
    TABLE = "users"

    class Meta:
        table_name = UNBOUND

    by_email = UsersByEmail()
    email = UnicodeAttribute()
    user_id = UnicodeAttribute()
    clinic_id = UnicodeAttribute()
    role = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class LoginThrottleItem(_Item):
    TABLE = "login_throttle"

    class Meta:
        table_name = UNBOUND

    attempts = NumberAttribute(default=0)
    expires_at = TTLAttribute()


class SessionItem(_Item):
    TABLE = "sessions"

    class Meta:
        table_name = UNBOUND

    clinic_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()  # with clinic_id, the user's key (re-read at every refresh)
    secret_sha256 = UnicodeAttribute()  # the current refresh token's secret, hashed
    previous_sha256 = UnicodeAttribute(null=True)  # the one it replaced: presented again, it ends the session
    created_at = UTCDateTimeAttribute()
    refreshed_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute()
    ended_at = UTCDateTimeAttribute(null=True)
    end_reason = UnicodeAttribute(null=True)  # logout | refresh_reuse


class AuditItem(_Item):
    TABLE = "audit"

    class Meta:
        table_name = UNBOUND

    clinic_id = UnicodeAttribute(null=True)
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    outcome = UnicodeAttribute()
    target = JSONAttribute()
    at = UTCDateTimeAttribute()


class LedgerItem(_Item):
    TABLE = "ingest_ledger"

    class Meta:
        table_name = UNBOUND

    clinic_id = UnicodeAttribute()
    envelope_id = UnicodeAttribute()
    s3_key = UnicodeAttribute()
    outcome = UnicodeAttribute()  # "matched" | "unmatched" | "no_readings" | "patient_updated" | "patient_stale"
    readings = NumberAttribute()
    ingested_at = UTCDateTimeAttribute()


ALL_MODELS: tuple[type[_Item], ...] = (
    ReadingItem,
    PatientItem,
    UnmatchedItem,
    QuarantineItemRow,
    AgentItem,
    UserItem,
    AuditItem,
    LedgerItem,
    LoginThrottleItem,
    SessionItem,
)

_bound: Settings | None = None
_connection: Connection | None = None


def bound() -> Settings:
    """Points every model at the current settings' tables, endpoint and region (again when they changed)."""
    global _bound, _connection
    settings = get_settings()
    if settings is not _bound:
        shared = Connection(region=settings.region, host=settings.endpoint_url)
        for model in ALL_MODELS:
            meta: Any = model.Meta
            meta.table_name = settings.names.table(model.TABLE)
            meta.host = settings.endpoint_url
            meta.region = settings.region
            model._connection = None  # PynamoDB caches it per class and does not notice a new host
            # PynamoDB builds one botocore session and client per model (~0.1 s each on a cold start);
            # every table shares one connection instead. Relies on pynamodb 6.1's TableConnection.connection.
            table_connection = model._get_connection()
            shared.add_meta_table(table_connection.get_meta_table())
            table_connection.connection = shared
        _connection = shared
        _bound = settings
    return settings


def connection() -> Connection:
    """The connection for transactions across tables (one per process: building a client is not free)."""
    bound()
    assert _connection is not None
    return _connection
