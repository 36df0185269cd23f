"""Intake, the one door every source uses: hash → dedupe → classify → envelopes or quarantine → spool, durably.

`Intake.submit` returns only once the raw bytes and what they owe S3 are on disk, so a source may
acknowledge (MLLP AA, ASTM ACK) or forget the input as soon as it returns.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

from edge_agent.adapters.base import Adapter, ParseContext
from edge_agent.adapters.registry import Outcome, classify
from edge_agent.patient_ids import resolve_patient
from edge_agent.spool import Incoming, Item, ItemState, NewItem, Spool, SpoolError, SpoolFull, SpoolObject
from edge_agent.spool.group_commit import GroupCommit
from edge_agent.spool.records import Described
from shared_models import AdapterInfo, Envelope, QuarantineReason, QuarantineRecord, RawObject, SourceInfo
from shared_models.s3keys import envelope_key, quarantine_key, raw_key

log = logging.getLogger(__name__)

__all__ = ["Classified", "Identity", "Intake", "IntakeResult", "SpoolError", "SpoolFull", "describe", "describe_item"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Identity:
    """Who is uploading, and under which key prefix (empty for the bucket's root)."""

    clinic_id: str
    agent_id: str
    prefix: str = ""


@dataclass(frozen=True)
class IntakeResult:
    item_id: int
    sha256: str
    duplicate: bool  # these bytes were already taken; nothing new was stored
    quarantined: bool
    reason: str | None  # quarantine reason code (shared_models.QuarantineReason), if quarantined
    detail: str
    envelopes: int


@dataclass(frozen=True)
class Classified:
    """What one raw input becomes: envelopes, or one quarantine record. Pure data, no IO."""

    raw: RawObject
    envelopes: list[Envelope]
    quarantine: QuarantineRecord | None

    def described(self, ident: Identity) -> Described:
        """The plain data the spool commits (what a parse worker sends back)."""
        q = self.quarantine
        state = ItemState.QUARANTINED if q is not None else ItemState.PARSED
        return Described(
            state, tuple(self.objects(ident)), reason=q.reason.value if q else None, detail=q.detail if q else None
        )

    def objects(self, ident: Identity) -> list[SpoolObject]:
        """What the uploader must put, in order: the raw bytes first, then envelopes or the record."""
        objs = [SpoolObject(0, "raw", self.raw.key, self.raw.media_type)]
        if self.quarantine is not None:
            key = ident.prefix + quarantine_key(ident.clinic_id, self.raw.sha256)
            body = self.quarantine.model_dump_json(exclude_none=True).encode()
            return [*objs, SpoolObject(1, "quarantine", key, "application/json", body)]
        for seq, env in enumerate(self.envelopes, start=1):
            key = ident.prefix + envelope_key(ident.clinic_id, env.source.received_at, env.envelope_id)
            objs.append(SpoolObject(seq, "envelope", key, "application/json", env.to_json().encode()))
        return objs


def describe(
    raw: bytes,
    *,
    ident: Identity,
    name: str,
    source: SourceInfo,
    relative_path: str = "",
    patient_id_patterns: Sequence[str] = (),
    adapters: Sequence[Adapter] | None = None,
    sha256: str | None = None,
    siblings: Sequence[str] = (),
    refused: tuple[QuarantineReason, str] | None = None,
) -> Classified:
    """Detect and parse `raw`, then build its envelopes (or quarantine record). Never raises.

    `refused` (reason, detail) skips parsing: the input is quarantined for that reason (e.g. it
    killed the parse worker reading it, so it is not parsed again inside the agent).
    """
    sha = sha256 or hashlib.sha256(raw).hexdigest()
    at = source.received_at
    if refused is None:
        ctx = ParseContext(
            name=name, now=at, relative_path=relative_path, source_kind=source.kind, siblings=tuple(siblings)
        )
        outcome = classify(raw, ctx, adapters)
    else:
        outcome = Outcome(reason=refused[0], detail=refused[1])
    ext = PurePosixPath(name).suffix
    media = outcome.items[0].media_type if outcome.items else None
    if not media or media == "application/octet-stream":
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    raw_obj = RawObject(
        key=ident.prefix + raw_key(ident.clinic_id, at, sha, ext), sha256=sha, size=len(raw), media_type=media,
        original_name=name or None,
    )  # fmt: skip
    try:
        if not outcome.quarantined:
            envelopes = _envelopes(outcome, ident, source, raw_obj, patient_id_patterns, relative_path, name)
            return Classified(raw_obj, envelopes, None)
    except Exception as exc:  # an adapter's output that does not fit the envelope must not crash the agent
        log.exception("envelope build failed", extra={"sha256": sha})
        outcome = Outcome(
            adapter=outcome.adapter, reason=QuarantineReason.INTERNAL_ERROR, detail=f"{type(exc).__name__}: {exc}"
        )
    record = QuarantineRecord(
        reason=outcome.reason or QuarantineReason.INTERNAL_ERROR,
        detail=outcome.detail,
        clinic_id=ident.clinic_id,
        agent_id=ident.agent_id,
        source=source,
        raw=raw_obj,
        adapter=outcome.adapter.name if outcome.adapter else None,
        quarantined_at=at,
    )
    return Classified(raw_obj, [], record)


def describe_item(
    item: NewItem | Item,
    raw: bytes,
    ident: Identity,
    *,
    adapters: Sequence[Adapter] | None = None,
    siblings: Sequence[str] = (),
    refused: tuple[QuarantineReason, str] | None = None,
) -> Classified:
    """`describe` for an input the spool knows the facts of (how the agent and its parse workers call it)."""
    source = SourceInfo(kind=item.source_kind, uri=item.uri, device_id=item.device_id, received_at=item.received_at)
    return describe(
        raw, ident=ident, name=item.original_name, source=source, relative_path=item.relative_path,
        patient_id_patterns=item.patterns, adapters=adapters, sha256=item.sha256, siblings=siblings, refused=refused,
    )  # fmt: skip


def _envelopes(
    outcome: Outcome,
    ident: Identity,
    source: SourceInfo,
    raw_obj: RawObject,
    patterns: Sequence[str],
    relative_path: str,
    name: str,
) -> list[Envelope]:
    assert outcome.adapter is not None
    adapter = AdapterInfo(name=outcome.adapter.name, version=outcome.adapter.version)
    parts = len(outcome.items)
    envelopes = []
    for part, item in enumerate(outcome.items):
        patient, warnings = resolve_patient(item.patient, patterns, relative_path, name)
        envelopes.append(
            Envelope(
                envelope_id=raw_obj.sha256 if parts == 1 else f"{raw_obj.sha256}-{part}",
                kind=item.kind,
                part=part,
                parts=parts,
                clinic_id=ident.clinic_id,
                agent_id=ident.agent_id,
                source=source,
                raw=raw_obj,
                patient=patient,
                device=item.device,
                adapter=adapter,
                captured_at=item.captured_at,
                readings=item.readings,
                warnings=[*item.warnings, *warnings],
                context=item.context,
            )
        )
    return envelopes


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

    def on_new_item(self, callback: Callable[[], None]) -> None:
        """`callback()` runs after each commit that stored new items (the uploader's wake-up)."""
        self._listeners.append(callback)

    def submit(
        self,
        raw: bytes,
        *,
        name: str,
        source_kind: str,
        uri: str,
        relative_path: str = "",
        device_id: str | None = None,
        patient_id_patterns: Sequence[str] = (),
        siblings: Sequence[str] = (),
    ) -> IntakeResult:
        """Takes `raw` once and for all; raises SpoolFull/SpoolError when it cannot be stored.

        hash → dedupe pre-check → classify (no lock held) → group commit (blob/rows/outbox, fsync).
        """
        prepared = self.prepare(
            raw, name=name, source_kind=source_kind, uri=uri, relative_path=relative_path, device_id=device_id,
            patient_id_patterns=patient_id_patterns, siblings=siblings,
        )  # fmt: skip
        return prepared if isinstance(prepared, IntakeResult) else self.store(prepared)

    def prepare(
        self,
        raw: bytes,
        *,
        name: str,
        source_kind: str,
        uri: str,
        relative_path: str = "",
        device_id: str | None = None,
        patient_id_patterns: Sequence[str] = (),
        siblings: Sequence[str] = (),  # other file names beside it (pairs a printout with its XML)
    ) -> Incoming | IntakeResult:
        """`submit`'s first half, CPU only (no lock, no write): `admit`, then `describe_new`.

        Returns the result at once for bytes already taken, else what `store`/`store_many` commit.
        """
        new = self.admit(
            raw, name=name, source_kind=source_kind, uri=uri, relative_path=relative_path, device_id=device_id,
            patient_id_patterns=patient_id_patterns,
        )  # fmt: skip
        return new if isinstance(new, IntakeResult) else self.describe_new(new, raw, siblings).incoming(new, raw)

    def admit(
        self,
        raw: bytes,
        *,
        name: str,
        source_kind: str,
        uri: str,
        relative_path: str = "",
        device_id: str | None = None,
        patient_id_patterns: Sequence[str] = (),
    ) -> NewItem | IntakeResult:
        """hash → dedupe pre-check: the result at once for bytes already taken, else the new item's facts."""
        sha = hashlib.sha256(raw).hexdigest()
        known = self.spool.ledger.find(sha)  # a resend after a lost ACK: answered without parsing again
        if known is not None:
            return self._duplicate(known)
        return NewItem(
            sha, len(raw), source_kind, uri, relative_path, name, device_id, tuple(patient_id_patterns), self._clock()
        )

    def describe_new(self, new: NewItem, raw: bytes, siblings: Sequence[str] = ()) -> Described:
        """Detect, parse, build envelopes or the quarantine record, here (a parse worker does the same)."""
        return self._describe(new, raw, siblings).described(self.ident)

    def store(self, incoming: Incoming) -> IntakeResult:
        """`submit`'s second half: the group commit (blocks until durable); raises SpoolFull/SpoolError."""
        return self._stored(incoming, *self.commits(incoming))

    def store_many(self, batch: Sequence[Incoming]) -> list[IntakeResult | BaseException]:
        """Several prepared inputs from one thread, committed together; per input its result or the
        error `store` would raise (SpoolFull/SpoolError)."""
        pairs = zip(batch, self.commits.many(batch), strict=True)
        results = [o if isinstance(o, BaseException) else self._stored(i, *o, quiet=True) for i, o in pairs]
        parsed = [r for r in results if isinstance(r, IntakeResult) and not r.duplicate and not r.quarantined]
        if parsed:  # a busy analyzer link logs a line per commit; quarantined items and duplicates keep theirs
            log.info(
                "items parsed",
                extra={"items": len(parsed), "first_item_id": parsed[0].item_id, "last_item_id": parsed[-1].item_id,
                       "envelopes": sum(r.envelopes for r in parsed), "source_kind": batch[0].new.source_kind},
            )  # fmt: skip
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
