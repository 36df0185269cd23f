"""The ledger's items: one row per distinct raw input, its state, and what intake and status read of it.

Item states: received → parsed | quarantined → uploaded. The SHA-256 of the raw bytes is the
identity, so the same bytes are recorded once, across restarts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from edge_agent.spool.connection import LedgerConnection
from edge_agent.spool.records import Incoming, Item, ItemState, NewItem, SpoolObject
from edge_agent.spool.schema import SELECT_ITEMS


def _patterns_json(patterns: Sequence[str]) -> str:
    return json.dumps(list(patterns)) if patterns else "[]"


class Items:
    def __init__(self, connection: LedgerConnection) -> None:
        self._c = connection

    def insert_received(self, new: NewItem) -> tuple[Item, bool]:
        """The item for these bytes, and whether this call created it (False: a duplicate)."""
        with self._c.tx() as db:
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
            self._c.add_pending(new.size if created else 0, 1 if created else 0)
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
        with self._c.tx() as db:
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
                self._c.add_pending(new.size, 1)
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
        with self._c.tx() as db:
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
        rows = self._c.query(SELECT_ITEMS + "WHERE state = 'received' ORDER BY item_id")
        return [Item.from_row(r) for r in rows]

    def find(self, sha256: str) -> Item | None:
        """The last committed item for these bytes (a pre-check; `insert_classified` decides for good)."""
        with self._c.reader_lock:
            # The dedupe check: UNIQUE index lookup on the content hash, on the reader connection.
            row = self._c.reader.execute(SELECT_ITEMS + "WHERE sha256 = ?", (sha256,)).fetchone()
        return Item.from_row(row) if row else None

    def get(self, item_id: int) -> Item | None:
        # Primary-key lookup, e.g. a folder source asking whether its file was uploaded.
        rows = self._c.query(SELECT_ITEMS + "WHERE item_id = ?", (item_id,))
        return Item.from_row(rows[0]) if rows else None

    def pending_bytes(self) -> int:
        """Bytes of raw inputs still held (everything not yet uploaded): what the spool cap limits."""
        return self.pending()[0]

    def pending(self) -> tuple[int, int]:
        """(bytes, items) not yet uploaded: what `max_spool_bytes` and `max_spool_items` limit."""
        with self._c.lock:
            if not self._c.readonly:
                # Changes by another connection (`medflow-edge replay` re-queues items) invalidate the count.
                version = int(self._c.db.execute("PRAGMA data_version").fetchone()[0])
                if version != self._c.data_version:
                    self._c.pending, self._c.data_version = None, version
            if self._c.pending is None or self._c.pending_items is None or self._c.readonly:
                # Over the not-yet-uploaded states: a table scan, so counted once and then kept.
                rows = self._c.query("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM items WHERE state != 'uploaded'")
                self._c.pending, self._c.pending_items = int(rows[0][0]), int(rows[0][1])
            return self._c.pending, self._c.pending_items or 0

    def oldest_pending_at(self) -> datetime | None:
        """When the oldest item not yet uploaded was received (the heartbeat reports its age)."""
        # The state index narrows it to the waiting items; received_at is ISO text, so MIN orders it.
        rows = self._c.query("SELECT MIN(received_at) FROM items WHERE state IN ('received', 'parsed', 'quarantined')")
        return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    def counts(self) -> dict[str, int]:
        # One grouped scan of the small state index; every state is reported, zero included.
        counts = {state.value: 0 for state in ItemState}
        for row in self._c.query("SELECT state, COUNT(*) FROM items GROUP BY state"):
            counts[row[0]] = int(row[1])
        return counts

    def failing(self, min_attempts: int = 1) -> int:
        """Items waiting for upload that have failed at least `min_attempts` times."""
        # Small count over the waiting states; status shows it beside the last error, /healthz alarms on it.
        rows = self._c.query(
            "SELECT COUNT(*) FROM items WHERE state IN ('parsed', 'quarantined') AND attempts >= ?", (min_attempts,)
        )
        return int(rows[0][0])
