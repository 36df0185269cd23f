"""Remembers which files a folder source already took (path, size, mtime), across restarts.

Without it every restart reads and hashes every file under every watched folder again: right
(the ledger dedupes), but on a share holding years of OCT exports that is hours of disk and
network reads after each reboot. Losing this file is harmless for the same reason, so it is
written with `synchronous=NORMAL`: it is a cache, the spool's ledger is the record.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
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

        # A source's connection state (smb: ok | auth_failed | share_missing | ...), for `status` and /healthz.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS source_status ("
            " source TEXT PRIMARY KEY, status TEXT NOT NULL, detail TEXT NOT NULL, since TEXT NOT NULL)"
        )

    def set_status(self, source: str, status: str, detail: str) -> None:
        since = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        with self._lock:
            # Written on changes only (a source reports transitions), so a cache write per outage, not per retry.
            self._db.execute(
                "INSERT INTO source_status (source, status, detail, since) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (source) DO UPDATE SET status = excluded.status, detail = excluded.detail,"
                " since = excluded.since",
                (source, status, detail, since),
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


def read_statuses(path: Path) -> dict[str, dict[str, str]]:
    """Each source's last reported state from `sources.db`, read-only ({} when none reported yet)."""
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
        try:
            # Small table: one row per source that reports a state.
            rows = db.execute("SELECT source, status, detail, since FROM source_status ORDER BY source").fetchall()
        finally:
            db.close()
    except sqlite3.Error:  # an older sources.db without the table, or being created right now
        return {}
    return {source: {"status": status, "detail": detail, "since": since} for source, status, detail, since in rows}
