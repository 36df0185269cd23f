"""Ledger: explicit item states, dedupe on sha256, per-object upload progress, durable across reopen."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.spool import ItemState, Ledger, NewItem, SpoolObject

AT = datetime(2026, 5, 4, 10, 30, tzinfo=UTC)


def new(sha: str = "a" * 64, size: int = 10) -> NewItem:
    return NewItem(sha, size, "folder", "file:///in/x.xml", "P1/x.xml", "x.xml", "dev-1", ("{patient_id}/*",), AT)


OBJECTS = [
    SpoolObject(0, "raw", "raw/k", "application/xml"),
    SpoolObject(1, "envelope", "envelopes/k1.json", "application/json", b'{"a":1}'),
    SpoolObject(2, "envelope", "envelopes/k2.json", "application/json", b'{"a":2}'),
]


def test_schema_is_wal_with_full_sync(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "spool.db")
    assert ledger.connection.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.connection.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    ledger.close()


def test_same_sha_is_one_item(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "spool.db")
    first, created = ledger.items.insert_received(new())
    again, created_again = ledger.items.insert_received(new())
    assert created and not created_again
    assert again.item_id == first.item_id and again.state == ItemState.RECEIVED
    assert first.patterns == ("{patient_id}/*",) and first.received_at == AT and first.device_id == "dev-1"
    assert ledger.items.find("a" * 64) == first and ledger.items.find("b" * 64) is None


def test_state_machine_received_parsed_uploaded(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "spool.db")
    item, _ = ledger.items.insert_received(new())
    assert ledger.items.received() == [item] and ledger.outbox.due(now=1e12) == []
    ledger.items.record_outcome(item.item_id, ItemState.PARSED, OBJECTS)
    parsed = ledger.items.get(item.item_id)
    assert parsed is not None and parsed.state == ItemState.PARSED and parsed.envelopes == 2
    assert [i.item_id for i in ledger.outbox.due(now=0)] == [item.item_id]
    # A second classification of the same item is refused: it is no longer `received`.
    with pytest.raises(RuntimeError, match="not in state received"):
        ledger.items.record_outcome(item.item_id, ItemState.QUARANTINED, OBJECTS[:1])
    ledger.outbox.object_uploaded(item.item_id, 0, AT)
    assert [o.seq for o in ledger.outbox.objects(item.item_id)] == [1, 2]  # progress is kept per object
    ledger.outbox.item_uploaded(item.item_id, AT)
    done = ledger.items.get(item.item_id)
    assert done is not None and done.state == ItemState.UPLOADED
    assert ledger.outbox.due(now=1e12) == [] and ledger.items.pending_bytes() == 0
    assert all(o.body is None for o in ledger.outbox.objects(item.item_id, pending_only=False))  # no PHI kept
    assert ledger.meta.read()["last_upload_at"] == AT.isoformat()
    assert ledger.items.counts() == {"received": 0, "parsed": 0, "quarantined": 0, "uploaded": 1}


def test_outcome_must_be_parsed_or_quarantined(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "spool.db")
    item, _ = ledger.items.insert_received(new())
    with pytest.raises(ValueError, match="parsed or quarantined"):
        ledger.items.record_outcome(item.item_id, ItemState.UPLOADED, OBJECTS)


def test_failed_upload_counts_attempts_and_delays(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "spool.db")
    item, _ = ledger.items.insert_received(new())
    ledger.items.record_outcome(item.item_id, ItemState.QUARANTINED, OBJECTS[:1], reason="empty", detail="0 bytes")
    assert ledger.outbox.upload_failed(item.item_id, "EndpointConnectionError", next_attempt_at=100.0) == 1
    assert ledger.outbox.upload_failed(item.item_id, "EndpointConnectionError", next_attempt_at=200.0) == 2
    assert ledger.outbox.due(now=150.0) == [] and ledger.outbox.next_due_at() == 200.0
    waiting = ledger.outbox.due(now=200.0)[0]
    assert (waiting.attempts, waiting.last_error, waiting.reason) == (2, "EndpointConnectionError", "empty")
    assert ledger.items.failing() == 1


def test_everything_committed_survives_reopen(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "spool.db")
    item, _ = ledger.items.insert_received(new(size=123))
    ledger.items.record_outcome(item.item_id, ItemState.PARSED, OBJECTS)
    ledger.close()  # like a process ending: only committed state remains
    reopened = Ledger(tmp_path / "spool.db")
    assert reopened.items.pending_bytes() == 123
    assert [o.key for o in reopened.outbox.objects(item.item_id)] == ["raw/k", "envelopes/k1.json", "envelopes/k2.json"]


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "spool.db")
    item, _ = ledger.items.insert_received(new())
    duplicate_seq = [OBJECTS[0], OBJECTS[0]]
    with pytest.raises(sqlite3.IntegrityError):
        ledger.items.record_outcome(item.item_id, ItemState.PARSED, duplicate_seq)
    assert ledger.outbox.objects(item.item_id) == []
    assert ledger.items.received()[0].item_id == item.item_id


def test_readonly_ledger_reads_beside_a_writer_and_cannot_write(tmp_path: Path) -> None:
    writer = Ledger(tmp_path / "spool.db")
    writer.items.insert_received(new())
    reader = Ledger(tmp_path / "spool.db", readonly=True)
    assert reader.items.counts()["received"] == 1
    with pytest.raises(sqlite3.OperationalError):
        reader.meta.set("x", "y")
