"""The spool (outbox): durable raw blobs plus the SQLite ledger of what each item still owes S3."""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
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


RESUME_RATIO = 0.9  # once full, new items wait until the backlog is below this share of each cap
_CAP = "spool_full:"  # every spool-full alarm text starts with this reason code
_DISK = "spool_full: disk full:"  # ... and this one when the disk, not a cap, is what is full


@dataclass(frozen=True)
class Limits:
    """The configured caps (`agent.max_spool_bytes`, `agent.max_spool_items`) and where taking resumes."""

    max_bytes: int
    max_items: int | None = None
    resume_ratio: float = RESUME_RATIO

    def over(self, pending: int, count: int) -> bool:
        return pending > self.max_bytes or (self.max_items is not None and count > self.max_items)

    def below_resume(self, pending: int, count: int) -> bool:
        return pending <= self.max_bytes * self.resume_ratio and (
            self.max_items is None or count <= self.max_items * self.resume_ratio
        )


def disk_full(exc: BaseException) -> bool:
    """ENOSPC and kin from the blob store, SQLITE_FULL from the ledger."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    return False


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
        # The spool-full alarm as this process knows it (also when the full disk kept it out of the ledger).
        self.refusing: str | None = None

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

    def commit(
        self,
        batch: Sequence[Incoming],
        *,
        max_spool_bytes: int,
        max_spool_items: int | None = None,
        resume_ratio: float = RESUME_RATIO,
    ) -> list[tuple[Item, bool] | SpoolError]:
        """One durable commit for a group-commit batch; per entry (item, created) or the error to raise.

        Identical bytes twice in one batch are stored once (the later entry gets created=False);
        an entry over a cap gets SpoolFull and is not stored, the others still are. Once full, the
        spool refuses everything until the backlog is below `resume_ratio` of each cap (hysteresis:
        no flapping between refusing and taking one item at a time); a full disk refuses the batch.
        """
        limits = Limits(max_spool_bytes, max_spool_items, resume_ratio)
        outcomes: list[tuple[Item, bool] | SpoolError | None] = [None] * len(batch)
        first: dict[str, int] = {}  # sha256 → index of the entry that stores it
        try:
            refusal = self.refusal(limits)
            if refusal is not None:
                return [refusal for _ in batch]
            pending, count = self.ledger.items.pending()
            for i, entry in enumerate(batch):
                if entry.new.sha256 in first:
                    continue
                if limits.over(pending + entry.new.size, count + 1):
                    outcomes[i] = self._full(limits, pending, count, entry.new.sha256)
                    continue
                pending += entry.new.size
                count += 1
                first[entry.new.sha256] = i
            stored = dict(zip(first, self._store_whole([batch[i] for i in first.values()]), strict=True))
            refused = any(isinstance(o, SpoolFull) for o in outcomes)
            if stored and not refused:
                self._room_again(pending, count)
        except Exception as exc:  # noqa: BLE001 — disk full, I/O error: every sender keeps its input
            if disk_full(exc):
                full = self._disk_full(exc)
                return [o if isinstance(o, SpoolFull) else full for o in outcomes]
            log.error("spool write failed", extra={"items": len(batch), "error": type(exc).__name__})
            return [o if isinstance(o, SpoolFull) else _write_failed(exc) for o in outcomes]
        for i, entry in enumerate(batch):
            if outcomes[i] is None:
                item, created = stored[entry.new.sha256]
                outcomes[i] = (item, created and first[entry.new.sha256] == i)
        return [o for o in outcomes if o is not None]

    def _store_whole(self, batch: Sequence[Incoming]) -> list[tuple[Item, bool]]:
        """`store`, leaving nothing behind when it fails: blob files written for a transaction that did
        not commit are removed at once (not only by the next start's `tidy`)."""
        try:
            return self.store(batch)
        except BaseException:
            for entry in batch:
                sha = entry.new.sha256
                if entry.new.size > self.inline_raw_max_bytes and self.ledger.items.find(sha) is None:
                    with contextlib.suppress(OSError):
                        self.blobs.delete(sha)
            raise

    def refusal(self, limits: Limits) -> SpoolFull | None:
        """While the spool-full alarm is up and the backlog is not yet below the resume mark, the
        SpoolFull every new input gets (checked before describing, so refused inputs cost no parse)."""
        if self.refusing is None and not self.ledger.meta.has_alarm():
            return None
        pending, count = self.ledger.items.pending()
        if self.refusing is not None and self.refusing.startswith(_DISK):
            return None  # a full disk: try the write again (space may be back); it fails fast if not
        if limits.below_resume(pending, count):
            return None  # room again: the next commit takes items and clears the alarm
        return SpoolFull(self.refusing or self._cap_text(limits, pending, count))

    def relieve(self, limits: Limits) -> bool:
        """Clears the spool-full alarm once the backlog is below the resume mark (the uploader's
        `on_uploaded` listener calls this, so status says "taking items" without waiting for one)."""
        if self.refusing is None and not self.ledger.meta.has_alarm():
            return False
        if self.refusing is not None and self.refusing.startswith(_DISK):
            return False  # a full disk clears when a write succeeds
        pending, count = self.ledger.items.pending()
        if not limits.below_resume(pending, count):
            return False
        self._room_again(pending, count)
        return True

    def _room_again(self, pending: int, count: int) -> None:
        if self.refusing is None and not self.ledger.meta.has_alarm():
            return
        self.refusing = None
        with contextlib.suppress(Exception):
            self.ledger.meta.set("alarm", None)
        log.warning("spool has room again; taking new items", extra={"pending_bytes": pending, "pending_items": count})

    def _cap_text(self, limits: Limits, pending: int, count: int) -> str:
        caps = f"cap {limits.max_bytes} bytes" + (f", {limits.max_items} items" if limits.max_items else "")
        return (
            f"{_CAP} {pending} bytes in {count} items waiting ({caps}); new items are refused until the"
            f" backlog is below {round(limits.resume_ratio * 100)}% of the cap"
        )

    def _full(self, limits: Limits, pending: int, count: int, sha256: str) -> SpoolFull:
        msg = self._cap_text(limits, pending, count)
        # An alarm, not a drop: the source keeps the input (file stays, MLLP answers AR) and retries.
        log.error("ALARM spool full: refusing new items", extra={"sha256": sha256, "pending_bytes": pending,
                                                                  "pending_items": count,
                                                                  "max_spool_bytes": limits.max_bytes,
                                                                  "max_spool_items": limits.max_items})  # fmt: skip
        self._raise_alarm(msg)
        return SpoolFull(msg)

    def _disk_full(self, exc: BaseException) -> SpoolFull:
        msg = f"{_DISK} the disk holding the spool is full ({type(exc).__name__}: {exc}); new items are refused"
        if self.refusing != msg:
            log.error("ALARM spool disk full: refusing new items", extra={"error": type(exc).__name__})
        self._raise_alarm(msg)
        error = SpoolFull(msg)
        error.__cause__ = exc
        return error

    def _raise_alarm(self, msg: str) -> None:
        """In memory first (health and heartbeat read it even when the disk cannot take the meta row),
        then in the ledger for `medflow-edge status` (best effort: the disk may be what is full)."""
        first = self.refusing != msg
        self.refusing = msg
        if first:
            with contextlib.suppress(Exception):
                self.ledger.meta.set("alarm", msg)
                self.ledger.meta.error(msg, datetime.now(UTC))

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
    "RESUME_RATIO",
    "BlobStore",
    "Described",
    "Incoming",
    "Item",
    "ItemState",
    "Ledger",
    "Limits",
    "NewItem",
    "Spool",
    "SpoolError",
    "SpoolFull",
    "SpoolObject",
]
