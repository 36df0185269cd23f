"""The spool's ledger (SQLite, WAL, synchronous=FULL): one row per received item and the S3 objects it owes.

Item states: received → parsed | quarantined → uploaded. The SHA-256 of the raw bytes is the
identity, so the same bytes are recorded once, across restarts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from edge_agent.spool.quarantine import QuarantineStatements
from edge_agent.spool.records import Incoming, Item, ItemState, NewItem, SpoolObject
from edge_agent.spool.schema import SCHEMA, SCHEMA_VERSION, SELECT_ITEMS


def _patterns_json(patterns: Sequence[str]) -> str:
    return json.dumps(list(patterns)) if patterns else "[]"


UploadedAs = Literal["released", "kept", "incomplete"]  # item_uploaded(): raw bytes dropped / kept / not marked


class Ledger(QuarantineStatements):
    """Thread-safe: one connection guarded by a lock (sources and the uploader share it)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._readonly = readonly
        self._pending: int | None = None  # pending_bytes(), kept up to date by the writes that change it
        self._alarm: bool | None = None  # has_alarm(), likewise
        self._data_version = -1  # PRAGMA data_version when _pending was counted
        if readonly:  # `medflow-edge status` beside a running agent: never creates or changes anything
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._reader, self._reader_lock = self._db, self._lock
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) where several
        # statements must land together.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        # WAL lets `medflow-edge status` read while the agent writes; FULL fsyncs every commit so an
        # acknowledged item survives a power cut.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        # objects rows must never point at a missing item.
        self._db.execute("PRAGMA foreign_keys=ON")
        # Idempotent schema creation: the same file is opened at every start.
        self._db.executescript(SCHEMA)
        # Records the layout version so a later release can migrate it.
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        # A second connection for the dedupe look-up: under WAL it reads the last commit without
        # waiting for the writer's lock, so a source can hash and classify while a batch fsyncs.
        self._reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._reader.row_factory = sqlite3.Row
        self._reader_lock = threading.RLock()

    def close(self) -> None:
        with self._lock, self._reader_lock:
            self._reader.close()
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            # IMMEDIATE takes the write lock at once, so a transaction never fails half-way on a busy DB.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._pending = self._alarm = None  # this transaction's changes may not have landed: re-read
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args))

    # --- intake ---------------------------------------------------------------------------------

    def insert_received(self, new: NewItem) -> tuple[Item, bool]:
        """The item for these bytes, and whether this call created it (False: a duplicate)."""
        with self._tx() as db:
            # OR IGNORE on the UNIQUE sha256: the first writer of these bytes wins, others see a duplicate.
            cur = db.execute(
                "INSERT OR IGNORE INTO items (sha256, size, state, source_kind, uri, relative_path, original_name,"
                " device_id, patterns, received_at) VALUES (?, ?, 'received', ?, ?, ?, ?, ?, ?, ?)",
                (
                    new.sha256,
                    new.size,
                    new.source_kind,
                    new.uri,
                    new.relative_path,
                    new.original_name,
                    new.device_id,
                    json.dumps(list(new.patterns)),
                    new.received_at.isoformat(),
                ),
            )
            created = cur.rowcount == 1
            self._add_pending(new.size if created else 0)
            # Read back inside the transaction: the row as stored, whoever wrote it.
            row = db.execute(SELECT_ITEMS + "WHERE sha256 = ?", (new.sha256,)).fetchone()
        return Item.from_row(row), created

    def insert_classified(
        self, batch: Sequence[Incoming], raw_bodies: Sequence[bytes | None] | None = None
    ) -> list[tuple[Item, bool]]:
        """Stores classified items with their outbox in ONE transaction (one fsync for the whole batch).

        `raw_bodies[i]`, when not None, is stored as the body of entry i's raw object (its bytes
        kept inline instead of in a blob file). Returns each item as stored and whether this call
        created it (False: these bytes were already taken, by an earlier commit or earlier in this batch).
        """
        out = []
        with self._tx() as db:
            for i, entry in enumerate(batch):
                new = entry.new
                envelopes = sum(1 for o in entry.objects if o.role == "envelope")
                # Straight into parsed/quarantined: classification ran before the commit, so a row
                # never exists without its outbox. OR IGNORE on the UNIQUE sha256: first writer wins.
                cur = db.execute(
                    "INSERT OR IGNORE INTO items (sha256, size, state, source_kind, uri, relative_path,"
                    " original_name, device_id, patterns, received_at, envelopes, reason, detail)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new.sha256, new.size, entry.state.value, new.source_kind, new.uri, new.relative_path,
                        new.original_name, new.device_id, _patterns_json(new.patterns),
                        new.received_at.isoformat(), envelopes, entry.reason, entry.detail,
                    ),
                )  # fmt: skip
                if cur.rowcount != 1:
                    # Taken already: read back inside the transaction the row as stored, whoever wrote it.
                    row = db.execute(SELECT_ITEMS + "WHERE sha256 = ?", (new.sha256,)).fetchone()
                    out.append((Item.from_row(row), False))
                    continue
                item_id = int(cur.lastrowid or 0)
                self._add_pending(new.size)
                # The outbox (raw first; its body holds the raw bytes when they are stored inline).
                rows = [(item_id, o.seq, o.role, o.key, o.content_type, o.body) for o in entry.objects]
                if raw_bodies is not None and raw_bodies[i] is not None:
                    rows[0] = (*rows[0][:5], raw_bodies[i])  # objects[0] is the raw object
                db.executemany(
                    "INSERT INTO objects (item_id, seq, role, key, content_type, body) VALUES (?, ?, ?, ?, ?, ?)", rows
                )
                out.append((Item.inserted(item_id, entry, envelopes), True))  # the row just written, not re-read
        return out

    def record_outcome(
        self,
        item_id: int,
        state: ItemState,
        objects: Sequence[SpoolObject],
        *,
        reason: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Stores what the item owes S3 and moves it out of `received`, atomically."""
        if state not in (ItemState.PARSED, ItemState.QUARANTINED):
            raise ValueError(f"an outcome is parsed or quarantined, not {state}")
        envelopes = sum(1 for o in objects if o.role == "envelope")
        with self._tx() as db:
            # Replace any objects a crashed earlier attempt might have left (same item, re-classified).
            db.execute("DELETE FROM objects WHERE item_id = ?", (item_id,))
            # The outbox: every object the uploader must put, in order (raw first).
            db.executemany(
                "INSERT INTO objects (item_id, seq, role, key, content_type, body) VALUES (?, ?, ?, ?, ?, ?)",
                [(item_id, o.seq, o.role, o.key, o.content_type, o.body) for o in objects],
            )
            # Guarded by state: only a `received` item moves; a second classification is a no-op.
            cur = db.execute(
                "UPDATE items SET state = ?, envelopes = ?, reason = ?, detail = ? "
                "WHERE item_id = ? AND state = 'received'",
                (state.value, envelopes, reason, detail, item_id),
            )
            if cur.rowcount != 1:
                raise RuntimeError(f"item {item_id} is not in state received")

    def received(self) -> list[Item]:
        """Items a crash left between storage and classification (resumed at start)."""
        # Uses the state index; normally empty.
        rows = self._query(SELECT_ITEMS + "WHERE state = 'received' ORDER BY item_id")
        return [Item.from_row(r) for r in rows]

    def find(self, sha256: str) -> Item | None:
        """The last committed item for these bytes (a pre-check; `insert_classified` decides for good)."""
        with self._reader_lock:
            # The dedupe check: UNIQUE index lookup on the content hash, on the reader connection.
            row = self._reader.execute(SELECT_ITEMS + "WHERE sha256 = ?", (sha256,)).fetchone()
        return Item.from_row(row) if row else None

    def get(self, item_id: int) -> Item | None:
        # Primary-key lookup, e.g. a folder source asking whether its file was uploaded.
        rows = self._query(SELECT_ITEMS + "WHERE item_id = ?", (item_id,))
        return Item.from_row(rows[0]) if rows else None

    def pending_bytes(self) -> int:
        """Bytes of raw inputs still held (everything not yet uploaded): what the spool cap limits."""
        with self._lock:
            if not self._readonly:
                # Changes by another connection (`medflow-edge replay` re-queues items) invalidate the count.
                version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
                if version != self._data_version:
                    self._pending, self._data_version = None, version
            if self._pending is None or self._readonly:
                # Sum over the not-yet-uploaded states: a table scan, so counted once and then kept.
                rows = self._query("SELECT COALESCE(SUM(size), 0) FROM items WHERE state != 'uploaded'")
                self._pending = int(rows[0][0])
            return self._pending

    def _add_pending(self, size: int) -> None:
        if self._pending is not None:
            self._pending += size

    # --- uploader -------------------------------------------------------------------------------

    def due(self, now: float, limit: int = 50) -> list[Item]:
        """Items ready to upload whose backoff has expired, oldest first."""
        # Oldest first keeps arrival order in S3; the index on (state, next_attempt_at) serves it.
        rows = self._query(
            SELECT_ITEMS + "WHERE state IN ('parsed', 'quarantined') AND next_attempt_at <= ? ORDER BY item_id LIMIT ?",
            (now, limit),
        )
        return [Item.from_row(r) for r in rows]

    def next_due_at(self) -> float | None:
        """When the earliest waiting item may be retried (the uploader sleeps until then)."""
        # MIN over waiting items only; None when the outbox is empty.
        rows = self._query("SELECT MIN(next_attempt_at) FROM items WHERE state IN ('parsed', 'quarantined')")
        value = rows[0][0]
        return float(value) if value is not None else None

    def objects(self, item_id: int, pending_only: bool = True) -> list[SpoolObject]:
        # An item's objects in upload order; already-uploaded ones are skipped after a crash or retry.
        sql = "SELECT seq, role, key, content_type, body FROM objects WHERE item_id = ?"
        if pending_only:
            sql += " AND uploaded_at IS NULL"
        rows = self._query(sql + " ORDER BY seq", (item_id,))
        return [SpoolObject(r["seq"], r["role"], r["key"], r["content_type"], r["body"]) for r in rows]

    def object_uploaded(self, item_id: int, seq: int, at: datetime) -> None:
        with self._tx() as db:
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
        with self._tx() as db:
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
            self._add_pending(-row[0] if row else 0)
            keep = keep_quarantined_raw and row is not None and row["state"] == ItemState.QUARANTINED.value
            # Terminal state; attempts and error are cleared so status shows only live problems.
            db.execute(
                "UPDATE items SET state = 'uploaded', uploaded_at = ?, last_error = NULL WHERE item_id = ?",
                (at.isoformat(), item_id),
            )
            # The JSON bodies hold patient data; once in S3 they need not stay on the clinic PC (a kept
            # quarantined raw body stays until replayed or its retention ends).
            db.execute("UPDATE objects SET body = NULL WHERE item_id = ? AND (role != 'raw' OR ?)", (item_id, not keep))
            # Status and the heartbeat report the last successful upload.
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('last_upload_at', ?)", (at.isoformat(),))
        return "kept" if keep else "released"

    def upload_failed(self, item_id: int, error: str, next_attempt_at: float) -> int:
        """Counts the attempt and schedules the next; returns the attempts so far."""
        with self._tx() as db:
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
        return {r[0] for r in self._query("SELECT sha256 FROM items WHERE state = 'uploaded'")}

    def all_shas(self) -> set[str]:
        # Every sha the ledger knows; a blob not among them was written by a submit that never committed.
        return {r[0] for r in self._query("SELECT sha256 FROM items")}

    # --- status ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        # One grouped scan of the small state index; every state is reported, zero included.
        counts = {state.value: 0 for state in ItemState}
        for row in self._query("SELECT state, COUNT(*) FROM items GROUP BY state"):
            counts[row[0]] = int(row[1])
        return counts

    def failing(self, min_attempts: int = 1) -> int:
        """Items waiting for upload that have failed at least `min_attempts` times."""
        # Small count over the waiting states; status shows it beside the last error, /healthz alarms on it.
        rows = self._query(
            "SELECT COUNT(*) FROM items WHERE state IN ('parsed', 'quarantined') AND attempts >= ?", (min_attempts,)
        )
        return int(rows[0][0])

    def set_meta(self, name: str, value: str | None) -> None:
        with self._tx() as db:
            if value is None:
                # Clearing a flag (e.g. the spool-full alarm once space is back).
                db.execute("DELETE FROM meta WHERE name = ?", (name,))
            else:
                # Last-writer-wins agent facts: last error, alarms.
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))
            if name == "alarm":
                self._alarm = value is not None

    def meta(self) -> dict[str, str]:
        # A handful of rows; read whole.
        return {r[0]: r[1] for r in self._query("SELECT name, value FROM meta")}

    def has_alarm(self) -> bool:
        """Whether the spool-full alarm is raised; every commit asks, so kept in memory once read
        (this agent is the ledger's only writer, and `set_meta` keeps it up to date)."""
        with self._lock:
            if self._alarm is None or self._readonly:
                self._alarm = "alarm" in self.meta()
            return self._alarm
