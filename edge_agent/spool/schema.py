"""The ledger's SQLite layout: items (one per distinct raw input), objects (the outbox), meta, assignments."""

from __future__ import annotations

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('received', 'parsed', 'quarantined', 'uploaded')),
    source_kind TEXT NOT NULL,
    uri TEXT NOT NULL,
    relative_path TEXT NOT NULL DEFAULT '',
    original_name TEXT NOT NULL,
    device_id TEXT,
    patterns TEXT NOT NULL DEFAULT '[]',
    received_at TEXT NOT NULL,
    envelopes INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    detail TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    uploaded_at TEXT
);
CREATE INDEX IF NOT EXISTS items_by_state ON items (state, next_attempt_at);
-- Quarantined items only (few): `replay` lists them and the retention sweep finds expired ones by
-- upload time without scanning every uploaded item. Created on the next open of an older spool.
CREATE INDEX IF NOT EXISTS items_quarantined ON items (uploaded_at) WHERE reason IS NOT NULL;
CREATE TABLE IF NOT EXISTS objects (
    item_id INTEGER NOT NULL REFERENCES items (item_id),
    seq INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('raw', 'envelope', 'quarantine')),
    key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB,
    uploaded_at TEXT,
    PRIMARY KEY (item_id, seq)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Patient ids brought by duplicates (edge_agent.intake.assignment): an S3 object each, body dropped once put.
CREATE TABLE IF NOT EXISTS assignments (
    key TEXT PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items (item_id),
    body BLOB,
    created_at TEXT NOT NULL,
    uploaded_at TEXT
);
"""


# Every item read goes through this one column list (Item.from_row maps it by name).
SELECT_ITEMS = (
    "SELECT item_id, sha256, size, state, source_kind, uri, relative_path, original_name, device_id, patterns, "
    "received_at, envelopes, reason, detail, attempts, next_attempt_at, last_error FROM items "
)
