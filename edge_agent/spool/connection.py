"""The ledger's SQLite connection (WAL, synchronous=FULL): transactions, queries, and what is kept in memory.

`Items`, `Outbox`, `Quarantine` and `Meta` (the ledger's parts) each hold this one connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge_agent.spool.schema import SCHEMA, SCHEMA_VERSION


class LedgerConnection:
    """Thread-safe: one connection guarded by a lock (sources and the uploader share it)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.readonly = readonly
        self.pending: int | None = None  # Items.pending_bytes(), kept up to date by the writes that change it
        self.pending_items: int | None = None  # Items.pending()'s count of items, likewise
        self.alarm: bool | None = None  # Meta.has_alarm(), likewise
        self.data_version = -1  # PRAGMA data_version when `pending` was counted
        if readonly:  # `medflow-edge status` beside a running agent: never creates or changes anything
            self.db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.reader, self.reader_lock = self.db, self.lock
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) where several
        # statements must land together.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.row_factory = sqlite3.Row
        # WAL lets `medflow-edge status` read while the agent writes; FULL fsyncs every commit so an
        # acknowledged item survives a power cut.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        # objects rows must never point at a missing item.
        self.db.execute("PRAGMA foreign_keys=ON")
        # Idempotent schema creation: the same file is opened at every start.
        self.db.executescript(SCHEMA)
        # Records the layout version so a later release can migrate it.
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        # A second connection for the dedupe look-up: under WAL it reads the last commit without
        # waiting for the writer's lock, so a source can hash and classify while a batch fsyncs.
        self.reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.reader.row_factory = sqlite3.Row
        self.reader_lock = threading.RLock()

    def close(self) -> None:
        with self.lock, self.reader_lock:
            self.reader.close()
            self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            # IMMEDIATE takes the write lock at once, so a transaction never fails half-way on a busy DB.
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                # This transaction's changes may not have landed: re-read.
                self.pending = self.pending_items = self.alarm = None
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return list(self.db.execute(sql, args))

    def add_pending(self, size: int, items: int = 0) -> None:
        if self.pending is not None:
            self.pending += size
        if self.pending_items is not None:
            self.pending_items += items
