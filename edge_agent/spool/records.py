"""The spool's records: item states, a new item's facts, a stored item, and the S3 objects it owes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal


class ItemState(StrEnum):
    RECEIVED = "received"  # raw bytes durable, not yet classified
    PARSED = "parsed"  # envelopes built and stored, waiting for upload
    QUARANTINED = "quarantined"  # quarantine record built and stored, waiting for upload
    UPLOADED = "uploaded"  # every object is in S3; the blob may be gone


Role = Literal["raw", "envelope", "quarantine"]


@dataclass(frozen=True)
class NewItem:
    sha256: str
    size: int
    source_kind: str
    uri: str
    relative_path: str
    original_name: str
    device_id: str | None
    patterns: Sequence[str]
    received_at: datetime
    source: str = ""  # the configured source's name (not stored: metrics count per source)


@dataclass(frozen=True)
class Item:
    item_id: int
    sha256: str
    size: int
    state: ItemState
    source_kind: str
    uri: str
    relative_path: str
    original_name: str
    device_id: str | None
    patterns: tuple[str, ...]
    received_at: datetime
    envelopes: int
    reason: str | None
    detail: str | None
    attempts: int
    next_attempt_at: float
    last_error: str | None

    @classmethod
    def inserted(cls, item_id: int, entry: Incoming, envelopes: int) -> Item:
        """The item as `Ledger.insert_classified` just wrote it (what `from_row` would read back)."""
        new = entry.new
        return cls(
            item_id, new.sha256, new.size, entry.state, new.source_kind, new.uri, new.relative_path,
            new.original_name, new.device_id, tuple(new.patterns), new.received_at, envelopes,
            entry.reason, entry.detail, attempts=0, next_attempt_at=0.0, last_error=None,
        )  # fmt: skip

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Item:
        data: dict[str, Any] = dict(row)
        data["state"] = ItemState(data["state"])
        data["patterns"] = tuple(json.loads(data["patterns"]))
        data["received_at"] = datetime.fromisoformat(data["received_at"])
        return cls(**data)


@dataclass(frozen=True)
class SpoolObject:
    """One S3 object an item owes: `body` None means "the raw blob"."""

    seq: int
    role: Role
    key: str
    content_type: str
    body: bytes | None = None


@dataclass(frozen=True)
class Incoming:
    """A new input, already classified, waiting for its durable commit (one of a group-commit batch).

    `objects[0]` is the raw object; the spool stores small raw bytes inline in its body (same
    transaction as the row) and larger ones as a blob file, fsynced before the transaction.
    """

    new: NewItem
    raw: bytes
    state: ItemState  # parsed | quarantined
    objects: Sequence[SpoolObject]
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Described:
    """What classification made of a new input: everything its commit needs besides the input itself.

    Built in the agent's process or in a parse worker (edge_agent.parse_pool), so plain data only.
    """

    state: ItemState  # parsed | quarantined
    objects: tuple[SpoolObject, ...]  # raw first, then envelopes or the quarantine record
    reason: str | None = None
    detail: str | None = None

    def incoming(self, new: NewItem, raw: bytes) -> Incoming:
        return Incoming(new, raw, self.state, self.objects, reason=self.reason, detail=self.detail)
