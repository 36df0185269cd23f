"""Agent heartbeat (`agents/{clinic_id}/{agent_id}/heartbeat.json`): liveness and spool counts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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
