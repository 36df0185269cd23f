"""Intake, the one door every source uses: hash → dedupe → classify → envelopes or quarantine → spool, durably.

`Intake.submit` returns only once the raw bytes and what they owe S3 are on disk, so a source may
acknowledge (MLLP AA, ASTM ACK) or forget the input as soon as it returns.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from edge_agent.adapters.base import Adapter
from edge_agent.describe import Classified, Identity, describe, describe_item, describe_new
from edge_agent.flowlog import FlowLog
from edge_agent.spool import Incoming, Item, ItemState, NewItem, Origin, Spool, SpoolError, SpoolFull
from edge_agent.spool.group_commit import GroupCommit
from edge_agent.spool.records import Described

log = logging.getLogger(__name__)

__all__ = [
    "Classified",
    "Identity",
    "Intake",
    "IntakeResult",
    "Origin",
    "SpoolError",
    "SpoolFull",
    "describe",
    "describe_item",
]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IntakeResult:
    item_id: int
    sha256: str
    duplicate: bool  # these bytes were already taken; nothing new was stored
    quarantined: bool
    reason: str | None  # quarantine reason code (shared_models.QuarantineReason), if quarantined
    detail: str
    envelopes: int


class Intake:
    """Thread-safe. Sources call `submit` from their own threads; concurrent submits share one commit."""

    def __init__(
        self,
        spool: Spool,
        ident: Identity,
        *,
        max_spool_bytes: int,
        adapters: Sequence[Adapter] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if adapters is None:
            from edge_agent.adapters import ALL_ADAPTERS

            adapters = ALL_ADAPTERS
        self.spool = spool
        self.ident = ident
        self.max_spool_bytes = max_spool_bytes
        self.adapters = adapters
        self._clock = clock
        # One commit at a time ("check cap, store, insert rows" is one step), many items per commit.
        self.commits: GroupCommit[Incoming, tuple[Item, bool]] = GroupCommit(self._commit)
        self._listeners: list[Callable[[], None]] = []
        self.flow = FlowLog(log)  # the "items parsed" lines of store_many

    def on_new_item(self, callback: Callable[[], None]) -> None:
        """`callback()` runs after each commit that stored new items (the uploader's wake-up)."""
        self._listeners.append(callback)

    def submit(self, raw: bytes, origin: Origin, *, siblings: Sequence[str] = ()) -> IntakeResult:
        """Takes `raw` once and for all; raises SpoolFull/SpoolError when it cannot be stored.

        hash → dedupe pre-check → classify (no lock held) → group commit (blob/rows/outbox, fsync).
        `siblings`: other file names beside it (pairs a printout with its XML).
        """
        prepared = self.prepare(raw, origin, siblings=siblings)
        return prepared if isinstance(prepared, IntakeResult) else self.store(prepared)

    def prepare(self, raw: bytes, origin: Origin, *, siblings: Sequence[str] = ()) -> Incoming | IntakeResult:
        """`submit`'s first half, CPU only (no lock, no write): `admit`, then `describe_new`.

        Returns the result at once for bytes already taken, else what `store`/`store_many` commit.
        """
        new = self.admit(raw, origin)
        return new if isinstance(new, IntakeResult) else self.describe_new(new, raw, siblings).incoming(new, raw)

    def admit(self, raw: bytes, origin: Origin) -> NewItem | IntakeResult:
        """hash → dedupe pre-check: the result at once for bytes already taken, else the new item's facts."""
        sha = hashlib.sha256(raw).hexdigest()
        known = self.spool.ledger.find(sha)  # a resend after a lost ACK: answered without parsing again
        if known is not None:
            return self._duplicate(known)
        o = origin
        patterns = tuple(o.patient_id_patterns)
        return NewItem(
            sha, len(raw), o.source_kind, o.uri, o.relative_path, o.name, o.device_id, patterns, self._clock()
        )

    def describe_new(self, new: NewItem, raw: bytes, siblings: Sequence[str] = ()) -> Described:
        """Detect, parse, build envelopes or the quarantine record, here (a parse worker does the same)."""
        return describe_new(new, raw, self.ident, adapters=self.adapters, siblings=siblings)

    def store(self, incoming: Incoming) -> IntakeResult:
        """`submit`'s second half: the group commit (blocks until durable); raises SpoolFull/SpoolError."""
        return self._stored(incoming, *self.commits(incoming))

    def store_many(self, batch: Sequence[Incoming]) -> list[IntakeResult | BaseException]:
        """Several prepared inputs from one thread, committed together; per input its result or the
        error `store` would raise (SpoolFull/SpoolError)."""
        pairs = zip(batch, self.commits.many(batch), strict=True)
        results = [o if isinstance(o, BaseException) else self._stored(i, *o, quiet=True) for i, o in pairs]
        parsed = [r for r in results if isinstance(r, IntakeResult) and not r.duplicate and not r.quarantined]
        if parsed:  # a busy analyzer link: at most a line a second (FlowLog); quarantines and duplicates keep theirs
            kind, envelopes = batch[0].new.source_kind, sum(r.envelopes for r in parsed)
            self.flow.add(kind, len(parsed), parsed[0].item_id, parsed[-1].item_id, envelopes)
        return results

    def _stored(self, incoming: Incoming, item: Item, created: bool, *, quiet: bool = False) -> IntakeResult:
        if not created:  # the same bytes were committed meanwhile (another source, or earlier in the batch)
            return self._duplicate(item)
        quarantined = incoming.state == ItemState.QUARANTINED
        log.log(
            logging.DEBUG if quiet and not quarantined else logging.INFO,
            "item quarantined" if quarantined else "item parsed",
            extra={"item_id": item.item_id, "sha256": item.sha256, "source_kind": item.source_kind,
                   "reason": item.reason, "envelopes": item.envelopes},
        )  # fmt: skip
        return self._result(item, duplicate=False)

    def _duplicate(self, item: Item) -> IntakeResult:
        log.info("duplicate ignored", extra={"item_id": item.item_id, "sha256": item.sha256})
        return self._result(item, duplicate=True)

    def _commit(self, batch: Sequence[Incoming]) -> list[tuple[Item, bool] | SpoolError]:
        """The group commit (runs in one submitter's thread): one durable store for the whole batch."""
        outcomes = self.spool.commit(batch, max_spool_bytes=self.max_spool_bytes)
        if any(isinstance(o, tuple) and o[1] for o in outcomes):
            for callback in self._listeners:
                callback()
        return outcomes

    def _describe(self, item: NewItem | Item, raw: bytes, siblings: Sequence[str] = ()) -> Classified:
        return describe_item(item, raw, self.ident, adapters=self.adapters, siblings=siblings)

    def _classify(self, item: Item, raw: bytes) -> Item:
        """Resume only: an item an earlier version left in `received` (raw durable, not classified)."""
        result = self._describe(item, raw)
        q = result.quarantine
        state = ItemState.QUARANTINED if q is not None else ItemState.PARSED
        try:
            self.spool.ledger.record_outcome(
                item.item_id, state, result.objects(self.ident),
                reason=q.reason.value if q else None, detail=q.detail if q else None,
            )  # fmt: skip
        except Exception as exc:  # the raw item is durable (state received) and is resumed at the next start
            log.error("spool write failed", extra={"item_id": item.item_id, "error": type(exc).__name__})
            raise SpoolError(f"cannot store the outcome: {type(exc).__name__}: {exc}") from exc
        for callback in self._listeners:
            callback()
        return self.spool.ledger.get(item.item_id) or item

    def resume(self) -> int:
        """Classifies items a crash left in `received` (run at start, before sources)."""
        count = 0
        for item in self.spool.ledger.received():
            try:
                raw = self.spool.blobs.read(item.sha256)
            except FileNotFoundError:
                log.error("blob missing for a received item", extra={"item_id": item.item_id, "sha256": item.sha256})
                continue
            self._classify(item, raw)
            count += 1
        if count:
            log.info("resumed items left by a crash", extra={"count": count})
        return count

    def state(self, item_id: int) -> ItemState | None:
        item = self.spool.ledger.get(item_id)
        return item.state if item else None

    @staticmethod
    def _result(item: Item, *, duplicate: bool) -> IntakeResult:
        return IntakeResult(
            item_id=item.item_id,
            sha256=item.sha256,
            duplicate=duplicate,
            quarantined=item.state == ItemState.QUARANTINED or (item.state == ItemState.UPLOADED and bool(item.reason)),
            reason=item.reason,
            detail=item.detail or "",
            envelopes=item.envelopes,
        )
