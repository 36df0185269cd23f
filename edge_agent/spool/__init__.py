"""The spool (outbox): durable raw blobs plus the SQLite ledger of what each item still owes S3."""

from __future__ import annotations

import logging
from pathlib import Path

from edge_agent.errors import EdgeAgentError
from edge_agent.spool.blobs import BlobStore
from edge_agent.spool.ledger import Ledger
from edge_agent.spool.records import Item, ItemState, NewItem, SpoolObject

log = logging.getLogger(__name__)

DB_NAME = "spool.db"


class SpoolError(EdgeAgentError):
    """The spool cannot store an item (disk error, full disk): the sender must keep it and retry."""


class SpoolFull(SpoolError):
    """The configured `max_spool_bytes` would be exceeded: new items are refused, never dropped."""


class Spool:
    """The data directory: `spool.db` (ledger) and `blobs/` (raw bytes by sha256)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(data_dir / DB_NAME)
        self.blobs = BlobStore(data_dir / "blobs")

    def tidy(self) -> None:
        """At start, before any source runs: drop what a crash left that no one was told about.

        A blob without a ledger row was written by a submit that never committed (its sender got
        no acknowledgement and will send again); a blob of an uploaded item is already in S3.
        """
        temporaries = self.blobs.remove_temporaries()
        known = self.ledger.all_shas()
        uploaded = self.ledger.uploaded_shas()
        removed = 0
        for sha in self.blobs.names():
            if sha not in known or sha in uploaded:
                self.blobs.delete(sha)
                removed += 1
        if temporaries or removed:
            log.info("spool tidied", extra={"temporaries": temporaries, "blobs_removed": removed})

    def close(self) -> None:
        self.ledger.close()


__all__ = [
    "DB_NAME",
    "BlobStore",
    "Item",
    "ItemState",
    "Ledger",
    "NewItem",
    "Spool",
    "SpoolError",
    "SpoolFull",
    "SpoolObject",
]
