"""Quarantine records: why an input could not be turned into an envelope, in machine-readable form."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared_models.envelope import RawObject, SourceInfo


class QuarantineReason(StrEnum):
    EMPTY = "empty"  # zero bytes, or only whitespace/control characters
    UNKNOWN_FORMAT = "unknown_format"  # no adapter recognises the content
    MALFORMED = "malformed"  # recognised, but the content is broken (truncated, bad syntax)
    UNSUPPORTED_VARIANT = "unsupported_variant"  # recognised family, variant we do not read
    AMBIGUOUS_FORMAT = "ambiguous_format"  # two adapters claim it equally
    NOT_ASTM = "not_astm"  # framed analyzer output that is a proprietary, non-E1394 format
    BAD_DELIMITERS = "bad_delimiters"  # HL7/ASTM header declares unusable delimiters
    TOO_LARGE = "too_large"  # over the configured size limit
    NO_READINGS = "no_readings"  # parsed, but the device reported nothing usable
    INTERNAL_ERROR = "internal_error"  # an adapter failed unexpectedly; kept for replay


class QuarantineRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    quarantined: bool = True
    reason: QuarantineReason
    detail: str
    clinic_id: str
    agent_id: str
    source: SourceInfo
    raw: RawObject
    adapter: str | None = None  # the adapter that detected it, if any
    quarantined_at: datetime
