"""The ingest bucket's key layout (ARCHITECTURE §4), in one place for the agent and the cloud."""

from __future__ import annotations

import re
from datetime import datetime

_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check(segment: str, what: str) -> str:
    if not _SAFE.match(segment):
        raise ValueError(f"{what} {segment!r} may hold only letters, digits, '_', '.', '-'")
    return segment


def _day(at: datetime) -> str:
    return f"{at.year:04d}/{at.month:02d}/{at.day:02d}"


def raw_key(clinic_id: str, received_at: datetime, sha256: str, ext: str = "") -> str:
    """`raw/{clinic}/{yyyy}/{mm}/{dd}/{sha256}{ext}`: the original bytes."""
    if ext and not re.match(r"^\.[A-Za-z0-9]{1,10}$", ext):
        ext = ""
    return f"raw/{_check(clinic_id, 'clinic_id')}/{_day(received_at)}/{sha256}{ext.lower()}"


def envelope_key(clinic_id: str, received_at: datetime, envelope_id: str) -> str:
    """`envelopes/{clinic}/{yyyy}/{mm}/{dd}/{envelope_id}.json`; envelope_id is the sha256 (or sha256-part)."""
    return f"envelopes/{_check(clinic_id, 'clinic_id')}/{_day(received_at)}/{_check(envelope_id, 'envelope_id')}.json"


def quarantine_key(clinic_id: str, sha256: str) -> str:
    """`quarantine/{clinic}/{sha256}.json`: the quarantine record (the raw bytes stay under raw/)."""
    return f"quarantine/{_check(clinic_id, 'clinic_id')}/{sha256}.json"


def heartbeat_key(clinic_id: str, agent_id: str) -> str:
    """`agents/{clinic}/{agent}/heartbeat.json`."""
    return f"agents/{_check(clinic_id, 'clinic_id')}/{_check(agent_id, 'agent_id')}/heartbeat.json"


def probe_key(clinic_id: str, agent_id: str) -> str:
    """`probes/{clinic}/{agent}/doctor.json`: `medflow-edge doctor`'s write probe. Outside the prefixes the bucket
    announces to the ingest queue (cloud resources.NOTIFY_PREFIXES), so a doctor run never reaches ingest."""
    return f"probes/{_check(clinic_id, 'clinic_id')}/{_check(agent_id, 'agent_id')}/doctor.json"


def agent_config_key(clinic_id: str, agent_id: str) -> str:
    """`config/{clinic}/{agent}.json`: the configuration the cloud publishes for one agent (PUT
    /agents/{agent}/config), read by that agent only. Not announced to any queue."""
    return f"config/{_check(clinic_id, 'clinic_id')}/{_check(agent_id, 'agent_id')}.json"


def assignment_key(clinic_id: str, sha256: str, assignment_id: str) -> str:
    """`assignments/{clinic}/{sha256}/{assignment_id}.json`: a patient id the edge learned for an item."""
    clinic, item = _check(clinic_id, "clinic_id"), _check(sha256, "sha256")
    return f"assignments/{clinic}/{item}/{_check(assignment_id, 'assignment_id')}.json"


def clinic_of(key: str) -> str | None:
    """The clinic id a key belongs to, or None for keys outside the layout."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[0] in {"raw", "envelopes", "quarantine", "agents", "assignments", "config"}:
        return parts[1]
    return None
