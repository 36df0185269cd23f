"""The one door every source uses: `IntakePort` (what a source may call) and the records crossing it.

Sources (edge_agent.sources) import this module only: they hand complete inputs over and learn
whether each is durably stored; they know nothing of adapters, describing or the spool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from edge_agent.errors import EdgeAgentError
from edge_agent.spool.records import ItemState

__all__ = ["Input", "IntakePort", "IntakeResult", "ItemState", "Origin"]


@dataclass(frozen=True)
class Origin:
    """Where an input came from, as its source knows it: what `submit` needs besides the bytes."""

    name: str  # the file's name, or one made for a message (e.g. mllp-<control id>.hl7)
    source_kind: str  # folder | smb | serial | mllp | astm_tcp | cli
    uri: str
    relative_path: str = ""  # below the watched folder (patient-id patterns read it)
    device_id: str | None = None
    patient_id_patterns: Sequence[str] = ()
    source: str = ""  # the configured source's name (metrics count per source)


@dataclass(frozen=True)
class Input:
    """One input of `submit_many`: the bytes, where they came from, and the file names beside them."""

    raw: bytes
    origin: Origin
    siblings: Sequence[str] = ()


@dataclass(frozen=True)
class IntakeResult:
    item_id: int
    sha256: str
    duplicate: bool  # these bytes were already taken; nothing new was stored
    quarantined: bool
    reason: str | None  # quarantine reason code (shared_models.QuarantineReason), if quarantined
    detail: str
    envelopes: int


class IntakePort(Protocol):
    """What every source calls (`edge_agent.intake.intake.Intake`; tests pass fakes of this).

    Both entries return only once the input is durably spooled (or raise SpoolFull/SpoolError,
    both `EdgeAgentError`s), so the source may acknowledge or forget it at once.
    """

    def submit(self, raw: bytes, origin: Origin, *, siblings: Sequence[str] = ()) -> IntakeResult:
        """From a source's own thread: blocks; concurrent submits share one durable commit."""
        ...

    def submit_many(self, inputs: Sequence[Input]) -> list[IntakeResult | EdgeAgentError]:
        """`submit` for several inputs a source's thread has at once (a folder pass): one durable
        commit for them all; per input its result or the error `submit` would have raised."""
        ...

    async def submit_async(self, raw: bytes, origin: Origin) -> IntakeResult:
        """From a source's event loop (MLLP): inputs awaited together share one durable commit."""
        ...

    def release_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """A source's event loop has ended, every task of it done: what `submit_async` kept for it goes."""
        ...

    def state(self, item_id: int) -> ItemState | None: ...
