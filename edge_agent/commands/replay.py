"""`medflow-edge replay`: quarantined items go through detection and parsing again (after an adapter upgrade).

It works on the spool beside a running agent (SQLite WAL; each item is one short transaction):
what parses now gets its envelopes queued in the outbox and the agent's uploader puts them (the
raw object keeps its key; envelope keys as usual); what is still quarantined keeps its record,
or gets a new one when the reason or detail changed. Only items whose raw bytes are still in
the spool can be replayed: a quarantined item's bytes stay `keep_quarantined_days` after upload.
Replaying twice changes nothing the second time (a parsed item is no longer quarantined, and an
unchanged outcome is not written).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge_agent.adapters.base import Adapter
from edge_agent.identity import Identity
from edge_agent.intake.describe import describe
from edge_agent.intake.describer import context_of
from edge_agent.spool import BlobStore, Item, ItemState, Ledger
from edge_agent.spool.objects import spool_objects

log = logging.getLogger(__name__)

RELEASED = "raw_bytes_released"  # uploaded, then its bytes left the spool (retention off or over)
CORRUPT = "raw_bytes_corrupt"  # the bytes on disk no longer hash to the item's sha256


@dataclass(frozen=True)
class ReplayedItem:
    item_id: int
    sha256: str
    before: str  # the quarantine reason it had
    after: str  # "parsed", a quarantine reason, or why it could not be replayed


@dataclass
class ReplayReport:
    dry_run: bool
    keep_quarantined_days: float
    parsed: int = 0
    envelopes: int = 0
    still_quarantined: Counter[str] = field(default_factory=Counter)  # by (possibly new) reason
    new_reason: int = 0  # of those still quarantined, how many got a new reason or detail
    not_replayable: Counter[str] = field(default_factory=Counter)  # by cause
    changed_meanwhile: int = 0  # another replay got there first
    items: list[ReplayedItem] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Counts, reason codes and ids only: no file names, patient ids or results."""
        return {
            "dry_run": self.dry_run,
            "examined": len(self.items),
            "parsed": self.parsed,
            "envelopes": self.envelopes,
            "still_quarantined": sum(self.still_quarantined.values()),
            "still_quarantined_by_reason": dict(sorted(self.still_quarantined.items())),
            "new_reason": self.new_reason,
            "not_replayable": sum(self.not_replayable.values()),
            "not_replayable_by_cause": dict(sorted(self.not_replayable.items())),
            "changed_meanwhile": self.changed_meanwhile,
            "items": [vars(i) for i in self.items],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)

    def to_text(self) -> str:
        still = sum(self.still_quarantined.values())
        by_reason = ", ".join(f"{r} {n}" for r, n in sorted(self.still_quarantined.items()))
        lines = [
            f"replay{' (dry run: nothing written)' if self.dry_run else ''}: "
            f"{len(self.items)} quarantined item(s) examined",
            f"  parsed now          {self.parsed} ({self.envelopes} envelope(s))"
            + ("" if self.dry_run or not self.parsed else ", queued for upload by the agent"),
            f"  still quarantined   {still}" + (f" ({by_reason})" if by_reason else ""),
        ]
        if self.new_reason:
            lines.append(f"    with a new reason {self.new_reason} (the new quarantine record is queued for upload)")
        lines.append(f"  not replayable      {sum(self.not_replayable.values())}")
        if self.not_replayable[RELEASED]:
            lines.append(
                f"    {self.not_replayable[RELEASED]} uploaded earlier and their raw bytes have left the spool "
                f"(keep_quarantined_days = {self.keep_quarantined_days:g}); the bytes are in S3 under raw/"
            )
        if self.not_replayable[CORRUPT]:
            lines.append(f"    {self.not_replayable[CORRUPT]} whose raw bytes on disk no longer match their sha256")
        if self.changed_meanwhile:
            lines.append(f"  changed meanwhile   {self.changed_meanwhile} (another replay got there first)")
        return "\n".join(lines)


def _raw_bytes(ledger: Ledger, blobs: BlobStore, item: Item) -> bytes | str:
    """The item's raw bytes, or why they cannot be had (inline in the raw object's body, else the blob)."""
    raw = [o for o in ledger.outbox.objects(item.item_id, pending_only=False) if o.role == "raw"]
    if raw and raw[0].body is not None:
        data = raw[0].body
    else:
        try:
            data = blobs.read(item.sha256)
        except FileNotFoundError:
            return RELEASED
    return data if hashlib.sha256(data).hexdigest() == item.sha256 else CORRUPT


def replay(
    ledger: Ledger,
    blobs: BlobStore,
    ident: Identity,
    *,
    adapters: Sequence[Adapter],
    reason: str | None = None,
    dry_run: bool = False,
    keep_quarantined_days: float = 0.0,
) -> ReplayReport:
    """Replays every quarantined item (only those with `reason` when given); `dry_run` writes nothing."""
    report = ReplayReport(dry_run=dry_run, keep_quarantined_days=keep_quarantined_days)
    for item in ledger.quarantine.quarantined(reason):
        before = item.reason or ""
        data = _raw_bytes(ledger, blobs, item)
        if isinstance(data, str):
            report.not_replayable[data] += 1
            report.items.append(ReplayedItem(item.item_id, item.sha256, before, data))
            continue
        after = _replay_one(ledger, ident, item, data, adapters, dry_run, report)
        report.items.append(ReplayedItem(item.item_id, item.sha256, before, after))
        log.info("item replayed", extra={"item_id": item.item_id, "sha256": item.sha256, "before": before,
                                         "after": after, "dry_run": dry_run})  # fmt: skip
    return report


def _replay_one(
    ledger: Ledger,
    ident: Identity,
    item: Item,
    raw: bytes,
    adapters: Sequence[Adapter],
    dry_run: bool,
    report: ReplayReport,
) -> str:
    """Classifies the bytes as intake would have (same name, source, time, so the same keys) and
    re-queues the item when the outcome differs; returns "parsed" or the quarantine reason."""
    result = describe(raw, item.original_name, context_of(item), ident=ident, adapters=adapters)
    q = result.quarantine
    if q is not None and (q.reason.value, q.detail) == (item.reason, item.detail):
        report.still_quarantined[q.reason.value] += 1  # the same outcome: nothing to write
        return q.reason.value
    if not dry_run:
        objects = spool_objects(result.raw, result.envelopes, q, ident)[1:]  # the raw object is there already
        queued = ledger.quarantine.requeue(
            item, state=ItemState.QUARANTINED if q else ItemState.PARSED, objects=objects,
            reason=q.reason.value if q else None, detail=q.detail if q else None,
            raw_content_type=result.raw.media_type,
        )  # fmt: skip
        if not queued:
            report.changed_meanwhile += 1
            return "changed_meanwhile"
    if q is not None:
        report.still_quarantined[q.reason.value] += 1
        report.new_reason += 1
        return q.reason.value
    report.parsed += 1
    report.envelopes += len(result.envelopes)
    return "parsed"
