"""The spool's ledger (SQLite): one row per received item and the S3 objects it owes, in parts over one connection.

- `items`: intake's side (insert, dedupe look-up, the outcome of a resumed item) and the counts;
- `outbox`: the uploader's side (what is due, what is put, backoff);
- `quarantine`: what `replay` re-queues, and how long quarantined raw bytes stay;
- `meta`: agent facts (last upload, last error, the spool-full alarm);
- `assignments`: patient ids that duplicates brought, still to upload.
Layout in `schema`; the connection, its transactions and in-memory counts in `connection`.
"""

from __future__ import annotations

from pathlib import Path

from edge_agent.spool.assignments import Assignments
from edge_agent.spool.connection import LedgerConnection
from edge_agent.spool.items import Items
from edge_agent.spool.meta import Meta
from edge_agent.spool.outbox import Outbox
from edge_agent.spool.quarantine import Quarantine


class Ledger:
    """Thread-safe: its parts share one connection guarded by a lock (sources and the uploader share it)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.connection = LedgerConnection(path, readonly=readonly)
        self.items = Items(self.connection)
        self.outbox = Outbox(self.connection)
        self.quarantine = Quarantine(self.connection)
        self.meta = Meta(self.connection)
        self.assignments = Assignments(self.connection)

    def close(self) -> None:
        self.connection.close()
