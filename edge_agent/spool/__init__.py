"""The spool (outbox): durable raw blobs plus the SQLite ledger of what each item still owes S3."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge_agent.errors import EdgeAgentError
from edge_agent.spool.blobs import BlobStore
from edge_agent.spool.ledger import Ledger
from edge_agent.spool.records import Described, Incoming, Item, ItemState, NewItem, SpoolObject

log = logging.getLogger(__name__)

DB_NAME = "spool.db"
# Raw inputs up to this size live in the ledger (the raw object's body), committed in the same
# transaction as their row: one WAL fsync per batch instead of a file fsync plus a directory
# fsync per item (lab messages are 1-50 KB). Bigger inputs (images, DICOM) are blob files.
INLINE_RAW_MAX_BYTES = 128 * 1024


class SpoolError(EdgeAgentError):
    """The spool cannot store an item (disk error, full disk): the sender must keep it and retry."""


class SpoolFull(SpoolError):
    """The configured `max_spool_bytes` would be exceeded: new items are refused, never dropped."""


def _write_failed(exc: Exception) -> SpoolError:
    """One error per waiter (each thread raises its own instance), chained to the cause."""
    error = SpoolError(f"cannot store the item: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


class Spool:
    """The data directory: `spool.db` (ledger) and `blobs/` (raw bytes by sha256)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        inline_raw_max_bytes: int = INLINE_RAW_MAX_BYTES,
        keep_quarantined_seconds: float = 0.0,
    ) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(data_dir / DB_NAME)
        self.blobs = BlobStore(data_dir / "blobs")
        self.inline_raw_max_bytes = inline_raw_max_bytes
        # After upload a quarantined item's raw bytes stay this long, for `medflow-edge replay` (0: not kept).
        self.keep_quarantined_seconds = keep_quarantined_seconds

    def store(self, batch: Sequence[Incoming]) -> list[tuple[Item, bool]]:
        """Makes a batch durable: big raw inputs as fsynced blob files first, then one transaction
        holding every row, its outbox and the small raw inputs. Returns (item, created) per entry."""
        inline: list[bytes | None] = []
        for entry in batch:
            if entry.new.size <= self.inline_raw_max_bytes:
                inline.append(entry.raw)
            else:  # bytes first: a committed row always has its blob (an orphan blob is tidied)
                self.blobs.put(entry.new.sha256, entry.raw)
                inline.append(None)
        return self.ledger.items.insert_classified(batch, inline)

    def commit(self, batch: Sequence[Incoming], *, max_spool_bytes: int) -> list[tuple[Item, bool] | SpoolError]:
        """One durable commit for a group-commit batch; per entry (item, created) or the error to raise.

        Identical bytes twice in one batch are stored once (the later entry gets created=False);
        an entry over the cap gets SpoolFull and is not stored, the others still are.
        """
        outcomes: list[tuple[Item, bool] | SpoolError | None] = [None] * len(batch)
        first: dict[str, int] = {}  # sha256 → index of the entry that stores it
        try:
            pending = self.ledger.items.pending_bytes()
            for i, entry in enumerate(batch):
                if entry.new.sha256 in first:
                    continue
                if pending + entry.new.size > max_spool_bytes:
                    outcomes[i] = self._full(pending, max_spool_bytes, entry.new.sha256)
                    continue
                pending += entry.new.size
                first[entry.new.sha256] = i
            stored = dict(zip(first, self.store([batch[i] for i in first.values()]), strict=True))
            refused = any(isinstance(o, SpoolFull) for o in outcomes)
            if stored and not refused and self.ledger.meta.has_alarm():
                self.ledger.meta.set("alarm", None)
                log.warning("spool has room again; taking new items", extra={"pending_bytes": pending})
        except Exception as exc:  # noqa: BLE001 — disk full, I/O error: every sender keeps its input
            log.error("spool write failed", extra={"items": len(batch), "error": type(exc).__name__})
            return [o if isinstance(o, SpoolFull) else _write_failed(exc) for o in outcomes]
        for i, entry in enumerate(batch):
            if outcomes[i] is None:
                item, created = stored[entry.new.sha256]
                outcomes[i] = (item, created and first[entry.new.sha256] == i)
        return [o for o in outcomes if o is not None]

    def _full(self, pending: int, cap: int, sha256: str) -> SpoolFull:
        msg = f"spool_full: {pending} bytes waiting, cap {cap}; new items are refused"
        # An alarm, not a drop: the source keeps the input (file stays, MLLP answers AR) and retries.
        log.error("ALARM spool full: refusing new item", extra={"sha256": sha256, "pending_bytes": pending,
                                                                 "max_spool_bytes": cap})  # fmt: skip
        self.ledger.meta.set("alarm", msg)
        self.ledger.meta.error(msg, datetime.now(UTC))
        return SpoolFull(msg)

    def read_raw(self, item_id: int, sha256: str) -> bytes:
        """An item's raw bytes, wherever they are kept (inline in the ledger, or the blob file)."""
        raw = [o for o in self.ledger.outbox.objects(item_id, pending_only=False) if o.role == "raw"]
        if raw and raw[0].body is not None:
            return raw[0].body
        return self.blobs.read(sha256)

    def tidy(self) -> None:
        """At start, before any source runs: drop what a crash left that no one was told about.

        A blob without a ledger row was written by a submit that never committed (its sender got
        no acknowledgement and will send again); a blob of an uploaded item is already in S3.
        """
        temporaries = self.blobs.remove_temporaries()
        self.release_expired_quarantine()
        known = self.ledger.outbox.all_shas()
        uploaded = self.ledger.outbox.uploaded_shas()
        if self.keep_quarantined_seconds > 0:  # what is left of them is within its retention
            uploaded -= self.ledger.quarantine.kept_quarantined_shas()
        removed = 0
        for sha in self.blobs.names():
            if sha not in known or sha in uploaded:
                self.blobs.delete(sha)
                removed += 1
        if temporaries or removed:
            log.info("spool tidied", extra={"temporaries": temporaries, "blobs_removed": removed})

    def release_expired_quarantine(self, now: datetime | None = None) -> int:
        """Drops the raw bytes of quarantined items uploaded longer ago than the retention (they are in
        S3 under raw/); returns how many blob files went. Run at start and by the idle uploader."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self.keep_quarantined_seconds)
        removed = 0
        for sha in self.ledger.quarantine.release_quarantined_raw(cutoff, self.inline_raw_max_bytes):
            if self.blobs.exists(sha):
                self.blobs.delete(sha)
                removed += 1
        if removed:
            log.info("quarantine retention ended for raw blobs", extra={"blobs_removed": removed})
        return removed

    def close(self) -> None:
        self.ledger.close()


__all__ = [
    "DB_NAME",
    "INLINE_RAW_MAX_BYTES",
    "BlobStore",
    "Described",
    "Incoming",
    "Item",
    "ItemState",
    "Ledger",
    "NewItem",
    "Spool",
    "SpoolError",
    "SpoolFull",
    "SpoolObject",
]
