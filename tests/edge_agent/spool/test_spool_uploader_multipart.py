"""Big raw objects go to moto's server in parts with SHA-256 checksums, read from the blob in one pass;
a blob that no longer hashes to its identity is never completed."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET, RecordingWriter, drain, keys

from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.spool import ItemState, Spool
from edge_agent.spool import uploader as uploader_module
from edge_agent.spool.uploader import Uploader

pytestmark = pytest.mark.integration

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3's smallest part is 5 MB: a 9 MB blob makes two parts without a 50 MB test file."""
    monkeypatch.setattr(uploader_module, "MULTIPART_THRESHOLD", 6 * MB)
    monkeypatch.setattr(uploader_module, "PART_SIZE", 5 * MB)


def big_item(intake: Intake) -> tuple[Any, bytes]:
    raw = os.urandom(9 * MB)  # unknown format: quarantined, its raw object still owed (and big)
    return intake.submit(raw, Origin("scan.bin", "folder", "file:///in/scan.bin")), raw


def test_a_big_blob_goes_in_parts_with_checksums(
    intake: Intake, spool: Spool, uploader: Uploader, writer: RecordingWriter, s3: Any
) -> None:
    result, raw = big_item(intake)
    drain(uploader)
    raw_key = next(o.key for o in spool.ledger.outbox.objects(result.item_id, pending_only=False) if o.role == "raw")
    assert raw_key not in writer.keys  # not one PutObject
    assert s3.get_object(Bucket=BUCKET, Key=raw_key)["Body"].read() == raw
    head = s3.head_object(Bucket=BUCKET, Key=raw_key, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256"
    # S3's checksum of the parts' checksums (moto leaves out the "-2" real S3 appends): each part was checked.
    parts = hashlib.sha256(hashlib.sha256(raw[: 5 * MB]).digest() + hashlib.sha256(raw[5 * MB :]).digest())
    assert head["ChecksumSHA256"].removesuffix("-2") == base64.b64encode(parts.digest()).decode()
    item = spool.ledger.items.get(result.item_id)
    assert item is not None and item.state == ItemState.UPLOADED
    assert hashlib.sha256(raw).hexdigest() == result.sha256


def test_a_blob_corrupted_on_disk_is_never_completed(
    intake: Intake, spool: Spool, uploader: Uploader, s3: Any, tmp_path: Path
) -> None:
    result, _ = big_item(intake)
    blob = spool.blobs.path(result.sha256)
    with open(blob, "r+b") as fh:  # one byte flipped in the last part, after the item was stored
        fh.seek(8 * MB)
        byte = fh.read(1)
        fh.seek(8 * MB)
        fh.write(bytes([byte[0] ^ 0xFF]))
    _, backing_off = uploader.run_once()
    assert not backing_off  # this item's problem, not the endpoint's
    item = spool.ledger.items.get(result.item_id)
    assert item is not None and item.state != ItemState.UPLOADED and "BlobCorrupted" in (item.last_error or "")
    assert not any(k.startswith("raw/") for k in keys(s3))
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []  # aborted, no parts left behind
