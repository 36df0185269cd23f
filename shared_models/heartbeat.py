"""Agent heartbeat (`agents/{clinic_id}/{agent_id}/heartbeat.json`): liveness and spool counts.

Besides liveness it carries what fleet health needs (docs/edge_agent.md "Fleet health"): the beat's
interval, per source and device when it last spoke, the age of the oldest unsent item and the
quarantines by reason. Counts, ids and times only: never a file name, patient id or result.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DeviceActivity(BaseModel):
    """One configured source (and, where the source names it, one device on it): when it last handed
    the agent something."""

    model_config = ConfigDict(extra="allow")

    source: str  # the configured source's name
    kind: str  # folder | smb | serial | mllp | astm_tcp | dicom_scp | ...
    device_id: str | None = None
    last_seen_at: datetime | None = None  # None: nothing from it since the agent's spool was created
    items: int = 0  # inputs taken from it (duplicates included: a resend is the device speaking)
    expect_every_minutes: int | None = None  # configured; None: the cloud learns it from the history


class ConfigRejection(BaseModel):
    """A published configuration the agent refused (docs/edge_agent.md "Remote configuration"): it keeps
    running on the one it had. Gone once a later version is applied."""

    model_config = ConfigDict(extra="allow")

    version: int | None = None  # the refused version (None: the document was unreadable, its version unknown)
    error: str  # key paths and what is wrong with them; never a file name or patient id
    at: datetime


class AgentHeartbeat(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_: str = Field(default="medflow.heartbeat/1", alias="schema")
    clinic_id: str
    agent_id: str
    version: str
    sent_at: datetime
    started_at: datetime
    counts: dict[str, int] = Field(default_factory=dict)  # spool items per state
    last_upload_at: datetime | None = None
    last_error: str | None = None  # an error code and short text; never PHI; absent once uploads succeed again
    last_error_at: datetime | None = None  # when `last_error` happened
    interval_seconds: int | None = None  # how often the agent beats (the cloud's silence threshold follows it)
    devices: list[DeviceActivity] = Field(default_factory=list)
    oldest_pending_at: datetime | None = None  # received_at of the oldest item not yet uploaded
    errors_by_kind: dict[str, int] = Field(default_factory=dict)  # quarantined items per reason code
    # Remote configuration: the published version the agent runs on (None: its local TOML only), and the
    # last version it refused, if any since then.
    config_version: int | None = None
    config_error: ConfigRejection | None = None
