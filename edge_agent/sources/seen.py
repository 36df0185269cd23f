"""Remembers which files a folder source already took (path, size, mtime), across restarts.

Without it every restart reads and hashes every file under every watched folder again: right
(the ledger dedupes), but on a share holding years of OCT exports that is hours of disk and
network reads after each reboot. Losing this file is harmless for the same reason, so it is
written with `synchronous=NORMAL`: it is a cache, the spool's ledger is the record.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

Signature = tuple[int, int]  # (size, mtime_ns)


class SeenFiles:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL: the folder threads write while `status` may read; NORMAL: a cache may lose its last writes.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        # One row per file a source took; the key is the source name and the path below its root.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen ("
            " source TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
            " PRIMARY KEY (source, path)) WITHOUT ROWID"
        )

    def load(self, source: str) -> dict[str, Signature]:
        with self._lock:
            # Everything a source took before, read once when it starts.
            rows = self._db.execute("SELECT path, size, mtime_ns FROM seen WHERE source = ?", (source,))
            return {path: (size, mtime) for path, size, mtime in rows}

    def mark(self, source: str, path: str, signature: Signature) -> None:
        with self._lock:
            # A file taken (or taken again after it changed): remember the signature it had.
            self._db.execute(
                "INSERT INTO seen (source, path, size, mtime_ns) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (source, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns",
                (source, path, *signature),
            )

    def forget(self, source: str, paths: list[str]) -> None:
        if not paths:
            return
        with self._lock:
            # Files gone from the folder: keeps the table as small as the folder.
            self._db.executemany("DELETE FROM seen WHERE source = ? AND path = ?", [(source, p) for p in paths])

    def close(self) -> None:
        with self._lock:
            self._db.close()
