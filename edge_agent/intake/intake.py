"""Intake, the one door every source uses: hash → dedupe → describe → envelopes or quarantine → spool, durably.

`Intake.submit` (a source's thread) and `Intake.submit_async` (a source's event loop) return only
once the raw bytes and what they owe S3 are on disk, so a source may acknowledge (MLLP AA,
ASTM ACK) or forget the input as soon as they return. What happened is told to listeners
(`on_new_item`: the uploader's wake-up; `on_taken`: metrics and flow logging), never by wrapping.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from edge_agent.adapters.base import Adapter
from edge_agent.errors import EdgeAgentError
from edge_agent.identity import Identity
from edge_agent.intake.assignment import assignment
from edge_agent.intake.describer import Describer
from edge_agent.intake.loop import LoopDoor
from edge_agent.intake.parse_pool import ParsePool
from edge_agent.intake.port import Input, IntakeResult, Origin
from edge_agent.spool import RESUME_RATIO, Described, Incoming, Item, ItemState, Limits, NewItem, Spool, SpoolError
from edge_agent.spool.group_commit import GroupCommit
from edge_agent.spool.objects import assignment_key

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Taken:
    """One input a source handed in, and what became of it (what `on_taken` listeners receive)."""

    source: str  # the configured source's name ("" when the caller named none)
    source_kind: str
    result: IntakeResult
    batched: bool  # committed by `store_many` (an event loop's batch), where per-item lines are DEBUG
    device_id: str | None = None  # the device the source names (configured `device_id`), if any


class Intake:
    """Thread-safe. Sources call `submit` from their own threads, or `submit_async` from their event
    loop; concurrent inputs share one commit."""

    def __init__(
        self,
        spool: Spool,
        ident: Identity,
        *,
        max_spool_bytes: int,
        max_spool_items: int | None = None,
        spool_resume_ratio: float = RESUME_RATIO,
        adapters: Sequence[Adapter],
        parse_pool: ParsePool | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.spool = spool
        self.ident = ident
        self.max_spool_bytes = max_spool_bytes
        self.limits = Limits(max_spool_bytes, max_spool_items, spool_resume_ratio)
        self.describer = Describer(ident, adapters)
        self.parse_pool = parse_pool  # describes for the MLLP source it is named after, when given
        self._clock = clock
        # One commit at a time ("check cap, store, insert rows" is one step), many items per commit.
        self.commits: GroupCommit[Incoming, tuple[Item, bool]] = GroupCommit(self._commit)
        self._new_item: list[Callable[[], None]] = []
        self._taken: list[Callable[[Sequence[Taken]], None]] = []
        self._doors: dict[asyncio.AbstractEventLoop, LoopDoor] = {}

    def on_new_item(self, callback: Callable[[], None]) -> None:
        """`callback()` runs after each commit that stored new items (the uploader's wake-up)."""
        self._new_item.append(callback)

    def on_taken(self, callback: Callable[[Sequence[Taken]], None]) -> None:
        """`callback(taken)` runs with every input answered: once per `submit`, once per batch commit."""
        self._taken.append(callback)

    def submit(self, raw: bytes, origin: Origin, *, siblings: Sequence[str] = ()) -> IntakeResult:
        """Takes `raw` once and for all; raises SpoolFull/SpoolError when it cannot be stored.

        hash → dedupe pre-check → describe (no lock held) → group commit (blob/rows/outbox, fsync).
        `siblings`: other file names beside it (pairs a printout with its XML).
        """
        prepared = self.prepare(raw, origin, siblings=siblings)
        return prepared if isinstance(prepared, IntakeResult) else self.store(prepared)

    def submit_many(self, inputs: Sequence[Input]) -> list[IntakeResult | EdgeAgentError]:
        """Several inputs from one thread (a folder pass): each hashed, checked and described, then all
        committed together (one fsync, not one per file); per input its result or the error."""
        outcomes: list[IntakeResult | EdgeAgentError | Incoming] = []
        for entry in inputs:
            try:
                outcomes.append(self.prepare(entry.raw, entry.origin, siblings=entry.siblings))
            except EdgeAgentError as exc:  # spool full: refused before the parse, like `submit`
                outcomes.append(exc)
        batch = [o for o in outcomes if isinstance(o, Incoming)]
        stored = iter(self.store_many(batch) if batch else [])
        results: list[IntakeResult | EdgeAgentError] = []
        for outcome in outcomes:
            if not isinstance(outcome, Incoming):
                results.append(outcome)
                continue
            result = next(stored)
            if isinstance(result, EdgeAgentError | IntakeResult):
                results.append(result)
            else:  # never expected: the commit hands back only SpoolErrors; kept as one for the source
                error = SpoolError(f"cannot store the item: {type(result).__name__}: {result}")
                error.__cause__ = result
                results.append(error)
        return results

    async def submit_async(self, raw: bytes, origin: Origin) -> IntakeResult:
        """`submit` for a source's event loop: hashed and checked on the loop, described by the parse
        workers (or on the loop), committed on the loop together with what else is waiting."""
        new = self.admit(raw, origin)
        if isinstance(new, IntakeResult):
            return new  # bytes already taken: answered at once, nothing stored twice
        door = self._door(asyncio.get_running_loop(), origin.source)
        described = await door.describe(new, raw)
        return await door.committer.store(described.incoming(new, raw))

    def prepare(self, raw: bytes, origin: Origin, *, siblings: Sequence[str] = ()) -> Incoming | IntakeResult:
        """`submit`'s first half, CPU only (no lock, no write): `admit`, then `describe`.

        Returns the result at once for bytes already taken, else what `store`/`store_many` commit.
        """
        new = self.admit(raw, origin)
        return new if isinstance(new, IntakeResult) else self.describe(new, raw, siblings).incoming(new, raw)

    def admit(self, raw: bytes, origin: Origin) -> NewItem | IntakeResult:
        """hash → dedupe pre-check: the result at once for bytes already taken, else the new item's facts."""
        sha = hashlib.sha256(raw).hexdigest()
        known = self.spool.ledger.items.find(sha)  # a resend after a lost ACK: answered without parsing again
        o = origin
        if known is not None:
            result = self._duplicate(known)
            self._assign(known, origin)
            self._tell([Taken(o.source, o.source_kind, result, batched=False, device_id=o.device_id)])
            return result
        refusal = self.spool.refusal(self.limits)
        if refusal is not None:  # full: refused before it costs a parse; the source keeps it and retries
            raise refusal
        patterns = tuple(o.patient_id_patterns)
        return NewItem(
            sha, len(raw), o.source_kind, o.uri, o.relative_path, o.name, o.device_id, patterns, self._clock(),
            o.source,
        )  # fmt: skip

    def _assign(self, item: Item, origin: Origin) -> None:
        """A duplicate whose path gives a patient id its first copy's path did not: stored for upload
        (the cloud applies it to the item's unmatched envelopes), never dropped with the duplicate."""
        at = self._clock()
        record = assignment(item, origin, self.ident, at)
        if record is None:
            return
        key = assignment_key(self.ident, item.sha256, record.assignment_id)
        try:
            added = self.spool.ledger.assignments.add(item.item_id, key, record.to_bytes(), at)
        except Exception as exc:  # the source keeps its input and offers it again
            log.error("spool write failed", extra={"item_id": item.item_id, "error": type(exc).__name__})
            raise SpoolError(f"cannot store the patient assignment: {type(exc).__name__}: {exc}") from exc
        if added:
            log.info("patient id from a duplicate recorded", extra={"item_id": item.item_id, "sha256": item.sha256,
                                                                    "id_source": record.id_source})  # fmt: skip
            for callback in self._new_item:
                callback()

    def describe(self, new: NewItem, raw: bytes, siblings: Sequence[str] = ()) -> Described:
        """Detect, parse, build envelopes or the quarantine record, here (a parse worker does the same)."""
        return self.describer.describe(new, raw, siblings)

    def store(self, incoming: Incoming) -> IntakeResult:
        """`submit`'s second half: the group commit (blocks until durable); raises SpoolFull/SpoolError."""
        result = self._stored(incoming, *self.commits(incoming))
        self._tell([Taken(incoming.new.source, incoming.new.source_kind, result, batched=False,
                          device_id=incoming.new.device_id)])  # fmt: skip
        return result

    def store_many(self, batch: Sequence[Incoming]) -> list[IntakeResult | BaseException]:
        """Several prepared inputs from one thread, committed together; per input its result or the
        error `store` would raise (SpoolFull/SpoolError)."""
        pairs = zip(batch, self.commits.many(batch), strict=True)
        results = [o if isinstance(o, BaseException) else self._stored(i, *o, quiet=True) for i, o in pairs]
        taken = [
            Taken(i.new.source, i.new.source_kind, r, batched=True, device_id=i.new.device_id)
            for i, r in zip(batch, results, strict=True)
            if isinstance(r, IntakeResult)
        ]
        self._tell(taken)
        return results

    def _tell(self, taken: Sequence[Taken]) -> None:
        if taken:
            for callback in self._taken:
                callback(taken)

    def release_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """`loop` has ended (its source stopped, or was restarted by a new configuration): its door goes, and the
        parse workers it had are free for the next loop asking (the restarted source's). Without this every
        restart kept a closed loop and its door, and the workers stayed bound to the first loop for good."""
        if self._doors.pop(loop, None) is not None and self.parse_pool is not None:
            self.parse_pool.unbind(loop)

    def _door(self, loop: asyncio.AbstractEventLoop, source: str) -> LoopDoor:
        door = self._doors.get(loop)
        if door is None:  # the parse workers serve the source they were started for (its name), on its loop
            pool = self.parse_pool if self.parse_pool is not None and self.parse_pool.name == source else None
            door = self._doors[loop] = LoopDoor(self.describe, self.store_many, loop, pool)
        return door

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
        lim = self.limits
        outcomes = self.spool.commit(
            batch, max_spool_bytes=lim.max_bytes, max_spool_items=lim.max_items, resume_ratio=lim.resume_ratio
        )
        if any(isinstance(o, tuple) and o[1] for o in outcomes):
            for callback in self._new_item:
                callback()
        return outcomes

    def _classify(self, item: Item, raw: bytes) -> Item:
        """Resume only: an item an earlier version left in `received` (raw durable, not classified)."""
        result = self.describer.describe(item, raw)
        try:
            self.spool.ledger.items.record_outcome(
                item.item_id, result.state, list(result.objects), reason=result.reason, detail=result.detail
            )
        except Exception as exc:  # the raw item is durable (state received) and is resumed at the next start
            log.error("spool write failed", extra={"item_id": item.item_id, "error": type(exc).__name__})
            raise SpoolError(f"cannot store the outcome: {type(exc).__name__}: {exc}") from exc
        for callback in self._new_item:
            callback()
        return self.spool.ledger.items.get(item.item_id) or item

    def resume(self) -> int:
        """Classifies items a crash left in `received` (run at start, before sources)."""
        count = 0
        for item in self.spool.ledger.items.received():
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

    def relieve(self, item_id: int = 0) -> None:
        """The uploader's `on_uploaded` listener: clears the spool-full alarm once the backlog is below
        the resume mark, so status and health say "taking items" before the next input arrives."""
        self.spool.relieve(self.limits)

    def state(self, item_id: int) -> ItemState | None:
        item = self.spool.ledger.items.get(item_id)
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
