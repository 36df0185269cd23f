"""Uploader against a real moto server: keys, checksums, SSE, raw before envelope, retry while S3 is down."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET, IDENT, LineAdapter, RecordingWriter, device_file, drain, keys

from edge_agent.config import CloudSection
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.spool import ItemState, Spool
from edge_agent.spool.uploader import ObjectWriter, Uploader, describe_error, make_s3_client
from localdev.moto import MotoServer, free_port

pytestmark = pytest.mark.integration


def submit(intake: Intake, raw: bytes, name: str = "t.txt") -> Any:
    return intake.submit(raw, Origin(name, "folder", f"file:///in/{name}"))


def test_upload_puts_raw_then_envelope_with_checksum_and_sse(
    intake: Intake, spool: Spool, uploader: Uploader, writer: RecordingWriter, s3: Any
) -> None:
    raw = device_file("pid=P1 od=15 os=17")
    result = submit(intake, raw, "tono.txt")
    drain(uploader)
    raw_key, env_key = (o.key for o in spool.ledger.outbox.objects(result.item_id, pending_only=False))
    assert writer.keys == [raw_key, env_key]  # the envelope never exists in S3 without its raw object
    assert keys(s3) == sorted([raw_key, env_key])
    head = s3.head_object(Bucket=BUCKET, Key=raw_key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(result.sha256)).decode()
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=BUCKET, Key=raw_key)["Body"].read() == raw
    body = s3.get_object(Bucket=BUCKET, Key=env_key)["Body"].read()
    env_head = s3.head_object(Bucket=BUCKET, Key=env_key, ChecksumMode="ENABLED")
    assert env_head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert env_head["ServerSideEncryption"] == "AES256" and env_head["ContentType"] == "application/json"
    assert json.loads(body)["raw"]["key"] == raw_key
    item = spool.ledger.items.get(result.item_id)
    assert item is not None and item.state == ItemState.UPLOADED
    assert not spool.blobs.exists(result.sha256)  # in S3 now; the clinic PC keeps no copy


@pytest.mark.parametrize(("raw", "reason"), [(b"", "empty"), (b"GIF89a...", "unknown_format"),
                                             (device_file("BROKEN"), "malformed")])  # fmt: skip
def test_quarantined_items_upload_raw_and_record(
    intake: Intake, uploader: Uploader, writer: RecordingWriter, s3: Any, raw: bytes, reason: str
) -> None:
    result = submit(intake, raw, "odd.bin")
    drain(uploader)
    quarantine_key = f"quarantine/clinic1/{result.sha256}.json"
    assert len(writer.keys) == 2 and writer.keys[0].startswith("raw/clinic1/") and writer.keys[1] == quarantine_key
    assert s3.get_object(Bucket=BUCKET, Key=writer.keys[0])["Body"].read() == raw
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=quarantine_key)["Body"].read())
    assert record["quarantined"] is True and record["reason"] == reason and record["raw"]["key"] == writer.keys[0]


def test_same_bytes_twice_upload_once_also_across_a_restart(tmp_path: Path, cloud: CloudSection, s3: Any) -> None:
    raw = device_file("pid=P1 od=15")
    for run in range(2):  # the second run is a fresh process's objects over the same data dir
        spool = Spool(tmp_path / "data")
        writer = RecordingWriter(make_s3_client(cloud), cloud)
        intake = Intake(spool, IDENT, max_spool_bytes=10**6, adapters=[LineAdapter()])
        uploader = Uploader(spool, writer)
        results = [submit(intake, raw, f"copy{n}.txt") for n in range(3)]
        drain(uploader)
        assert [r.duplicate for r in results] == ([False, True, True] if run == 0 else [True, True, True])
        assert len(writer.keys) == (2 if run == 0 else 0)
        spool.close()
    assert len(keys(s3)) == 2


def test_object_writer_requests_kms_when_configured(cloud: CloudSection, s3: Any) -> None:
    kms = cloud.model_copy(update={"sse": "aws:kms", "kms_key_id": "alias/medflow-test"})
    calls: list[dict[str, Any]] = []

    class Client:
        def put_object(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    ObjectWriter(Client(), kms).put("k", b"x", "text/plain")
    assert calls[0]["ServerSideEncryption"] == "aws:kms" and calls[0]["SSEKMSKeyId"] == "alias/medflow-test"
    assert calls[0]["ChecksumAlgorithm"] == "SHA256"


def test_endpoint_down_then_back_resumes_without_loss(tmp_path: Path, intake: Intake, spool: Spool) -> None:
    port = free_port()  # nobody listens here yet: connection refused
    cloud = CloudSection(bucket=BUCKET, endpoint_url=f"http://127.0.0.1:{port}", connect_timeout_seconds=1)
    uploader = Uploader(
        spool, ObjectWriter(make_s3_client(cloud), cloud), backoff_base=0.05, backoff_max=0.3, idle_seconds=0.1
    )
    results = [submit(intake, device_file(f"pid=P{n} od=1{n}"), f"t{n}.txt") for n in range(3)]
    delay, backing_off = uploader.run_once()
    assert backing_off and 0 < delay <= 0.3
    first = spool.ledger.items.get(results[0].item_id)
    assert first is not None and first.attempts == 1 and "EndpointConnectionError" in (first.last_error or "")
    assert "EndpointConnectionError" in spool.ledger.meta.read()["last_error"]
    assert spool.ledger.items.get(results[1].item_id).attempts == 0  # type: ignore[union-attr]  # one probe, not a storm
    uploader.start()
    time.sleep(0.5)  # a few failed passes while S3 is away
    server = MotoServer(port=port).start()
    try:
        make_s3_client(cloud).create_bucket(Bucket=BUCKET)
        deadline = time.monotonic() + 15
        while spool.ledger.items.counts()["uploaded"] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        uploader.stop()
        assert spool.ledger.items.counts()["uploaded"] == 3
        s3 = make_s3_client(cloud)
        assert len(s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == 6
    finally:
        uploader.stop()
        server.stop()


def test_missing_bucket_is_an_endpoint_failure(intake: Intake, spool: Spool, cloud: CloudSection) -> None:
    other = cloud.model_copy(update={"bucket": "no-such-bucket-here"})
    uploader = Uploader(spool, ObjectWriter(make_s3_client(other), other), backoff_base=0.01, backoff_max=0.02)
    submit(intake, device_file("pid=P1 od=15"))
    _, backing_off = uploader.run_once()
    assert backing_off and "NoSuchBucket" in spool.ledger.meta.read()["last_error"]


def test_describe_error_never_raises_on_odd_errors() -> None:
    assert describe_error(OSError("disk")) == ("OSError: disk", True)
    assert describe_error(ValueError("odd")) == ("ValueError: odd", False)


def test_an_item_failing_oddly_does_not_block_the_others(
    intake: Intake, spool: Spool, uploader: Uploader, writer: RecordingWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = submit(intake, device_file("pid=P1 od=15"), "bad.txt")
    good = submit(intake, device_file("pid=P2 od=16"), "good.txt")
    real_put = writer.put

    def put(key: str, body: bytes, content_type: str, sha256_hex: str | None = None) -> None:
        if bad.sha256 in key:
            raise ValueError("unexpected")
        real_put(key, body, content_type, sha256_hex)

    monkeypatch.setattr(writer, "put", put)
    _, backing_off = uploader.run_once()
    assert not backing_off
    assert spool.ledger.items.get(good.item_id).state == ItemState.UPLOADED  # type: ignore[union-attr]
    failed = spool.ledger.items.get(bad.item_id)
    assert failed is not None and failed.attempts == 1 and "ValueError" in (failed.last_error or "")


def test_a_duplicate_bringing_a_patient_id_uploads_an_assignment(
    intake: Intake, spool: Spool, uploader: Uploader, writer: RecordingWriter, s3: Any
) -> None:
    raw = device_file("od=15")  # no patient id in the content
    patterns = ("{patient_id}/*",)
    first = intake.submit(raw, Origin("a.txt", "folder", "file:///in/a.txt", "a.txt", None, patterns))
    drain(uploader)
    again = Origin("a.txt", "folder", "file:///in/P12345/a.txt", "P12345/a.txt", "lab-1", patterns, source="inbox")
    for _ in range(2):  # dropped twice into the patient's folder: one assignment
        result = intake.submit(raw, again)
        assert result.duplicate and result.item_id == first.item_id
    uploader.run_once()
    (key,) = keys(s3, "assignments/")
    assert key.startswith(f"assignments/clinic1/{first.sha256}/") and key.endswith(".json")
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert record["schema"] == "medflow.assignment/1" and record["raw_sha256"] == first.sha256
    assert (record["patient_id"], record["id_source"], record["pattern"]) == ("P12345", "folder_pattern", patterns[0])
    assert record["source"]["uri"] == "file:///in/P12345/a.txt" and record["source"]["device_id"] == "lab-1"
    assert spool.ledger.assignments.pending() == []  # put once; its body left the clinic PC
    plain = Origin("a.txt", "folder", "file:///in/again/a.txt", "again/a.txt", None, ())
    intake.submit(raw, plain)  # a copy whose path gives no id: a plain duplicate
    assert spool.ledger.assignments.pending() == []
