"""The ledger's outbox: what the uploader reads and marks as it puts items' objects to S3."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edge_agent.spool.connection import LedgerConnection
from edge_agent.spool.records import Item, ItemState, SpoolObject
from edge_agent.spool.schema import SELECT_ITEMS

UploadedAs = Literal["released", "kept", "incomplete"]  # item_uploaded(): raw bytes dropped / kept / not marked


@dataclass(frozen=True)
class Puts:
    """What S3 confirmed for one item in an upload pass: these objects (seq), and whether that was all of them."""

    item_id: int
    seqs: Sequence[int]
    whole: bool


class Outbox:
    def __init__(self, connection: LedgerConnection) -> None:
        self._c = connection

    def due(self, now: float, limit: int = 50) -> list[Item]:
        """Items ready to upload whose backoff has expired, oldest first."""
        # Oldest first keeps arrival order in S3; the index on (state, next_attempt_at) serves it.
        rows = self._c.query(
            SELECT_ITEMS + "WHERE state IN ('parsed', 'quarantined') AND next_attempt_at <= ? ORDER BY item_id LIMIT ?",
            (now, limit),
        )
        return [Item.from_row(r) for r in rows]

    def next_due_at(self) -> float | None:
        """When the earliest waiting item may be retried (the uploader sleeps until then)."""
        # MIN over waiting items only; None when the outbox is empty.
        rows = self._c.query("SELECT MIN(next_attempt_at) FROM items WHERE state IN ('parsed', 'quarantined')")
        value = rows[0][0]
        return float(value) if value is not None else None

    def objects(self, item_id: int, pending_only: bool = True) -> list[SpoolObject]:
        # An item's objects in upload order; already-uploaded ones are skipped after a crash or retry.
        sql = "SELECT seq, role, key, content_type, body FROM objects WHERE item_id = ?"
        if pending_only:
            sql += " AND uploaded_at IS NULL"
        rows = self._c.query(sql + " ORDER BY seq", (item_id,))
        return [SpoolObject(r["seq"], r["role"], r["key"], r["content_type"], r["body"]) for r in rows]

    def object_uploaded(self, item_id: int, seq: int, at: datetime) -> None:
        with self._c.tx() as db:
            # Remembers progress per object, so a retry does not re-put what S3 already has.
            db.execute(
                "UPDATE objects SET uploaded_at = ? WHERE item_id = ? AND seq = ?", (at.isoformat(), item_id, seq)
            )

    def item_uploaded(
        self, item_id: int, at: datetime, *, keep_quarantined_raw: bool = False, if_complete: bool = False
    ) -> UploadedAs:
        """Marks the item uploaded and drops its bodies; a quarantined item's raw bytes stay when
        `keep_quarantined_raw` (for replay). `if_complete`: only when no object is still pending
        (a replay in another process may have added some while the uploader put the others)."""
        with self._c.tx() as db:
            outcome = self._mark_item(db, item_id, keep_quarantined_raw, if_complete, at)
            if outcome != "incomplete":
                self._upload_facts(db, at)
        return outcome

    def record_puts(
        self, puts: Sequence[Puts], at: datetime, *, keep_quarantined_raw: bool = False
    ) -> list[UploadedAs | None]:
        """The uploader's batch, in one transaction (one fsync, not one per object): per entry the
        objects S3 confirmed are marked, and an item whose every object it confirmed (`whole`) is
        marked uploaded as `item_uploaded(if_complete=True)` would; per entry that outcome, or None."""
        outcomes: list[UploadedAs | None] = []
        with self._c.tx() as db:
            for put in puts:
                # Progress per object, so a retry does not re-put what S3 already has.
                db.executemany(
                    "UPDATE objects SET uploaded_at = ? WHERE item_id = ? AND seq = ?",
                    [(at.isoformat(), put.item_id, seq) for seq in put.seqs],
                )
                whole = put.whole and self._mark_item(db, put.item_id, keep_quarantined_raw, True, at)
                outcomes.append(whole or None)
            if any(o not in (None, "incomplete") for o in outcomes):
                self._upload_facts(db, at)
        return outcomes

    def _mark_item(
        self, db: sqlite3.Connection, item_id: int, keep_quarantined_raw: bool, if_complete: bool, at: datetime
    ) -> UploadedAs:
        if if_complete:
            # Any object not yet put keeps the item in the outbox; the uploader's next pass puts it.
            left = db.execute(
                "SELECT 1 FROM objects WHERE item_id = ? AND uploaded_at IS NULL LIMIT 1", (item_id,)
            ).fetchone()
            if left is not None:
                return "incomplete"
        # The size leaves the spool cap's count (once: only while the item is not yet uploaded);
        # the state as stored now, not as the uploader read it (a replay may have changed it).
        row = db.execute(
            "SELECT size, state FROM items WHERE item_id = ? AND state != 'uploaded'", (item_id,)
        ).fetchone()
        self._c.add_pending(-row[0] if row else 0, -1 if row else 0)
        keep = keep_quarantined_raw and row is not None and row["state"] == ItemState.QUARANTINED.value
        # Terminal state; attempts and error are cleared so status shows only live problems.
        db.execute(
            "UPDATE items SET state = 'uploaded', uploaded_at = ?, last_error = NULL WHERE item_id = ?",
            (at.isoformat(), item_id),
        )
        # The JSON bodies hold patient data; once in S3 they need not stay on the clinic PC (a kept
        # quarantined raw body stays until replayed or its retention ends).
        db.execute("UPDATE objects SET body = NULL WHERE item_id = ? AND (role != 'raw' OR ?)", (item_id, not keep))
        return "kept" if keep else "released"

    def _upload_facts(self, db: sqlite3.Connection, at: datetime) -> None:
        # Status and the heartbeat report the last successful upload.
        db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('last_upload_at', ?)", (at.isoformat(),))
        # The last error is over once no waiting item has failed: status, /healthz and the heartbeat
        # say what is true now, not what went wrong before a recovery (or a restart).
        db.execute(
            "DELETE FROM meta WHERE name IN ('last_error', 'last_error_at') AND NOT EXISTS"
            " (SELECT 1 FROM items WHERE state IN ('parsed', 'quarantined') AND attempts > 0)"
        )

    def upload_failed(self, item_id: int, error: str, next_attempt_at: float) -> int:
        """Counts the attempt and schedules the next; returns the attempts so far."""
        with self._c.tx() as db:
            # Per-item backoff survives restarts: next_attempt_at is wall-clock seconds.
            db.execute(
                "UPDATE items SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE item_id = ?",
                (next_attempt_at, error, item_id),
            )
            # Read back the new count for the alarm threshold.
            row = db.execute("SELECT attempts FROM items WHERE item_id = ?", (item_id,)).fetchone()
        return int(row[0])

    def uploaded_shas(self) -> set[str]:
        # Blobs of these items may be deleted (a crash can leave one behind after the upload).
        return {r[0] for r in self._c.query("SELECT sha256 FROM items WHERE state = 'uploaded'")}

    def all_shas(self) -> set[str]:
        # Every sha the ledger knows; a blob not among them was written by a submit that never committed.
        return {r[0] for r in self._c.query("SELECT sha256 FROM items")}
