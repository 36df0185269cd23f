"""The adapter contract: pure `detect(raw, name)` and `parse(raw, ctx)` over bytes, no IO.

Adapters return `Parsed` items (the device-specific part of an envelope); the pipeline adds
what only the rim knows (clinic, agent, source, raw S3 key, sha256) to build `Envelope`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared_models import DeviceInfo, EnvelopeKind, PatientRef, Reading


@dataclass(frozen=True)
class ParseContext:
    """What an adapter may know about the input besides its bytes."""

    name: str  # original file name (or a synthetic one for stream messages, e.g. "mllp-<id>.hl7")
    now: datetime  # the time the input was received; adapters never read the clock
    relative_path: str = ""  # path below the watched root, "/"-separated (folder sources)
    source_kind: str = "cli"
    siblings: tuple[str, ...] = field(default_factory=tuple)  # other file names in the same folder


class Parsed(BaseModel):
    """One envelope's worth of content, as an adapter read it."""

    model_config = ConfigDict(extra="forbid")

    kind: EnvelopeKind = "observations"
    patient: PatientRef = Field(default_factory=PatientRef)
    device: DeviceInfo = Field(default_factory=DeviceInfo)
    captured_at: datetime | None = None
    readings: list[Reading] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    media_type: str = "application/octet-stream"
    context: dict[str, str] = Field(default_factory=dict)


class Adapter(Protocol):
    """A device family's reader. `detect` is cheap and never raises; `parse` raises ParseError."""

    name: ClassVar[str]
    version: ClassVar[str]

    def detect(self, raw: bytes, name: str) -> float:
        """Confidence in [0, 1] that this adapter reads `raw`; 0 means not mine."""
        ...

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        """Readings from `raw`; one item per envelope. Raise ParseError with a reason otherwise."""
        ...
