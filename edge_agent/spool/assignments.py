"""The ledger's assignments: patient ids that duplicates brought, each an S3 object the uploader still owes.

Its own table (created on the next open of an older spool): an assignment is not a new input,
so it has no item row of its own; it points at the item whose envelopes it completes.
"""

from __future__ import annotations

from datetime import datetime

from edge_agent.spool.connection import LedgerConnection


class Assignments:
    def __init__(self, connection: LedgerConnection) -> None:
        self._c = connection

    def add(self, item_id: int, key: str, body: bytes, at: datetime) -> bool:
        """Stores one to upload; False when this key was stored before (the same id, brought again)."""
        with self._c.tx() as db:
            # OR IGNORE on the key (derived from the item and the patient id): recorded once.
            cur = db.execute(
                "INSERT OR IGNORE INTO assignments (key, item_id, body, created_at) VALUES (?, ?, ?, ?)",
                (key, item_id, body, at.isoformat()),
            )
        return cur.rowcount == 1

    def pending(self, limit: int = 50) -> list[tuple[str, bytes]]:
        # Oldest first; only those not yet in S3 still hold a body.
        rows = self._c.query(
            "SELECT key, body FROM assignments WHERE uploaded_at IS NULL ORDER BY created_at LIMIT ?", (limit,)
        )
        return [(r["key"], bytes(r["body"])) for r in rows]

    def uploaded(self, key: str, at: datetime) -> None:
        with self._c.tx() as db:
            # In S3 now: the body (it holds a patient id) need not stay on the clinic PC.
            db.execute("UPDATE assignments SET uploaded_at = ?, body = NULL WHERE key = ?", (at.isoformat(), key))
