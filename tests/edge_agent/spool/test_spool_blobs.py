"""Blob store: atomic write-fsync-rename, temporaries from a crash cleaned, tidy drops unowned blobs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.spool import BlobStore, ItemState, NewItem, Spool


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_read_delete(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    digest = sha(b"abc")
    path = store.put(digest, b"abc")
    assert path == tmp_path / "blobs" / digest[:2] / digest
    assert store.read(digest) == b"abc" and store.exists(digest)
    store.put(digest, b"abc")  # the same bytes again: harmless
    assert store.names() == {digest}
    store.delete(digest)
    store.delete(digest)  # deleting twice is fine too
    assert not store.exists(digest)


def test_names_must_be_digests(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        BlobStore(tmp_path).path("../../etc/passwd")


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlobStore(tmp_path / "blobs")
    digest = sha(b"abc")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("edge_agent.spool.blobs.os.replace", broken_replace)
    with pytest.raises(OSError):
        store.put(digest, b"abc")
    assert list((tmp_path / "blobs").rglob("*")) == [tmp_path / "blobs" / digest[:2]]


def test_tidy_removes_temporaries_orphans_and_uploaded_blobs(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data")
    kept, orphan, done = b"kept", b"orphan", b"done"
    for data in (kept, orphan, done):
        spool.blobs.put(sha(data), data)
    crashed_tmp = spool.blobs.path(sha(kept)).parent / f"{sha(kept)}.tmp-123"
    crashed_tmp.write_bytes(b"half")
    at = datetime.now(UTC)
    for data in (kept, done):
        spool.ledger.items.insert_received(NewItem(sha(data), len(data), "folder", "u", "", "n", None, (), at))
    done_item = spool.ledger.items.find(sha(done))
    assert done_item is not None
    spool.ledger.items.record_outcome(done_item.item_id, ItemState.PARSED, [])
    spool.ledger.outbox.item_uploaded(done_item.item_id, at)
    spool.tidy()
    assert spool.blobs.names() == {sha(kept)}
    assert not crashed_tmp.exists()
    spool.close()
