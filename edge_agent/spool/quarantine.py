"""The ledger's quarantine: what `replay` re-queues, and how long a quarantined item's raw bytes stay.

A quarantined item is one whose `reason` is set, whether its record still waits for upload
(state `quarantined`) or is in S3 already (state `uploaded`). Its raw bytes (inline in the raw
object's body, or the blob file) normally go once uploaded; with `keep_quarantined_days` they
stay until a replay parses the item or the retention ends (`release_quarantined_raw`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from edge_agent.spool.connection import LedgerConnection
from edge_agent.spool.records import Item, ItemState, SpoolObject
from edge_agent.spool.schema import SELECT_ITEMS


class Quarantine:
    def __init__(self, connection: LedgerConnection) -> None:
        self._c = connection

    def quarantined(self, reason: str | None = None) -> list[Item]:
        """Quarantined items, uploaded or not, oldest first; only those with `reason` when given."""
        # The partial index on quarantined items serves both forms; `reason IS NOT NULL` lets the planner use it.
        sql = SELECT_ITEMS + "WHERE reason IS NOT NULL AND state IN ('quarantined', 'uploaded')"
        args: tuple[str, ...] = ()
        if reason is not None:
            sql, args = sql + " AND reason = ?", (reason,)
        return [Item.from_row(r) for r in self._c.query(sql + " ORDER BY item_id", args)]

    def count(self) -> int:
        """Quarantined items, waiting for upload or in S3 already: what `replay` would examine."""
        # The partial index on quarantined items answers it without scanning the others.
        return int(self._c.query("SELECT COUNT(*) FROM items WHERE reason IS NOT NULL")[0][0])

    def by_reason(self) -> dict[str, int]:
        """Quarantined items per reason code (the heartbeat's errors by kind)."""
        rows = self._c.query("SELECT reason, COUNT(*) FROM items WHERE reason IS NOT NULL GROUP BY reason")
        return {str(row[0]): int(row[1]) for row in rows}

    def requeue(
        self,
        item: Item,
        *,
        state: ItemState,
        objects: Sequence[SpoolObject],
        reason: str | None,
        detail: str | None,
        raw_content_type: str,
    ) -> bool:
        """Puts a replayed item back in the outbox with its new outcome (envelopes, or a new quarantine
        record). False, changing nothing, when the item changed since `item` was read (a second replay)."""
        if state not in (ItemState.PARSED, ItemState.QUARANTINED):
            raise ValueError(f"a replay outcome is parsed or quarantined, not {state}")
        envelopes = sum(1 for o in objects if o.role == "envelope")
        with self._c.tx() as db:
            # Optimistic check inside the write lock: still quarantined for the reason the replay read.
            row = db.execute(
                "SELECT 1 FROM items WHERE item_id = ? AND reason IS ? AND detail IS ?",
                (item.item_id, item.reason, item.detail),
            ).fetchone()
            if row is None:
                return False
            # New objects follow every seq used so far, counted before the delete below: seq is upload order
            # (the raw object stays first), and an uploader that read the old rows marks only those.
            start = int(db.execute("SELECT MAX(seq) + 1 FROM objects WHERE item_id = ?", (item.item_id,)).fetchone()[0])
            # What the old outcome still owed (an unsent quarantine record) is moot; what S3 has stays.
            db.execute(
                "DELETE FROM objects WHERE item_id = ? AND role != 'raw' AND uploaded_at IS NULL", (item.item_id,)
            )
            # An unsent raw object goes with the adapter's media type; an uploaded one keeps its key and type.
            db.execute(
                "UPDATE objects SET content_type = ? WHERE item_id = ? AND role = 'raw' AND uploaded_at IS NULL",
                (raw_content_type, item.item_id),
            )
            # The new outbox rows; the running agent's uploader finds the item due and puts them.
            db.executemany(
                "INSERT INTO objects (item_id, seq, role, key, content_type, body) VALUES (?, ?, ?, ?, ?, ?)",
                [(item.item_id, start + i, o.role, o.key, o.content_type, o.body) for i, o in enumerate(objects)],
            )
            # Back into the outbox, due now: a fresh outcome starts with a clean retry history.
            db.execute(
                "UPDATE items SET state = ?, envelopes = ?, reason = ?, detail = ?, uploaded_at = NULL, attempts = 0,"
                " next_attempt_at = 0, last_error = NULL WHERE item_id = ?",
                (state.value, envelopes, reason, detail, item.item_id),
            )
            self._c.pending = None  # an uploaded item counts again until it is put: recount
        return True

    def release_quarantined_raw(self, uploaded_before: datetime, blob_min_size: int) -> list[str]:
        """Drops the inline raw bytes of quarantined items uploaded before the cutoff; returns the sha256
        of those whose bytes may be a blob file (bigger than the inline limit), for the caller to delete."""
        cutoff = uploaded_before.isoformat()
        with self._c.tx() as db:
            # Retention over: the bytes are in S3 (raw/…); only rows still holding a body are touched.
            db.execute(
                "UPDATE objects SET body = NULL WHERE role = 'raw' AND body IS NOT NULL AND item_id IN"
                " (SELECT item_id FROM items WHERE reason IS NOT NULL AND state = 'uploaded' AND uploaded_at < ?)",
                (cutoff,),
            )
            # Big ones live as blob files; quarantined items are few, so this list stays short.
            rows = db.execute(
                "SELECT sha256 FROM items WHERE reason IS NOT NULL AND state = 'uploaded' AND uploaded_at < ?"
                " AND size > ?",
                (cutoff, blob_min_size),
            ).fetchall()
        return [r[0] for r in rows]

    def kept_quarantined_shas(self) -> set[str]:
        # Blobs `tidy` must leave alone: uploaded quarantined items within their retention.
        return {r[0] for r in self._c.query("SELECT sha256 FROM items WHERE reason IS NOT NULL AND state = 'uploaded'")}
