"""`medflow-edge replay`: quarantined items parsed again once their adapter exists, re-queued and put to S3 (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET, IDENT, LineAdapter, RecordingWriter, device_file, drain, keys

from edge_agent.__main__ import main
from edge_agent.commands.replay import RELEASED, replay
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import IntakeResult, Origin
from edge_agent.spool import INLINE_RAW_MAX_BYTES, ItemState, Ledger, Spool
from edge_agent.spool.uploader import Uploader

pytestmark = pytest.mark.integration
KEEP = 30 * 86400.0
TOPASCOPE = "ophthalmic/ukinoki__Rufus__RODENSTOCK_TopaScope_TOMEY_TOP-1000_tonometer.xml"


@pytest.fixture
def spool(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Spool]:
    """The agent's spool with the default retention of quarantined raw bytes (param: inline size limit)."""
    inline = getattr(request, "param", INLINE_RAW_MAX_BYTES)
    s = Spool(tmp_path / "data", keep_quarantined_seconds=KEEP, inline_raw_max_bytes=inline)
    yield s
    s.close()


@pytest.fixture
def before_upgrade(spool: Spool) -> Intake:
    """The agent before the adapter upgrade: its adapter list lacks the test device's adapter."""
    return Intake(spool, IDENT, max_spool_bytes=10_000_000, adapters=[])


def take(intake: Intake, raw: bytes, name: str = "scan.txt") -> IntakeResult:
    return intake.submit(raw, Origin(name, "folder", f"file:///inbox/{name}"))


def with_adapter(spool: Spool, **kwargs: Any) -> Any:
    return replay(spool.ledger, spool.blobs, IDENT, adapters=[LineAdapter()], **kwargs)


@pytest.mark.parametrize("spool", [INLINE_RAW_MAX_BYTES, 8], ids=["inline", "blob-file"], indirect=True)
def test_replay_parses_uploads_and_a_second_replay_changes_nothing(
    spool: Spool, before_upgrade: Intake, uploader: Uploader, writer: RecordingWriter, s3: Any
) -> None:
    raw = device_file("pid=P1 od=15 os=16", "pid=P2 od=17")
    taken = take(before_upgrade, raw)
    assert taken.quarantined and taken.reason == "unknown_format"
    drain(uploader)
    (quarantine_key, raw_key) = keys(s3)
    assert quarantine_key == f"quarantine/clinic1/{taken.sha256}.json" and raw_key.startswith("raw/clinic1/")
    assert spool.read_raw(taken.item_id, taken.sha256) == raw  # uploaded, yet kept for replay

    report = with_adapter(spool)
    assert (report.parsed, report.envelopes, report.not_replayable.total()) == (1, 2, 0)
    assert spool.ledger.items.get(taken.item_id).state == ItemState.PARSED  # type: ignore[union-attr]
    put_before = len(writer.keys)
    drain(uploader)
    new_keys = writer.keys[put_before:]
    assert sorted(new_keys) == [k for k in keys(s3, "envelopes/")] and len(new_keys) == 2  # raw not put again
    env = json.loads(s3.get_object(Bucket=BUCKET, Key=new_keys[0])["Body"].read())
    assert env["raw"]["key"] == raw_key and env["patient"]["id"] == "P1" and env["adapter"]["name"] == "test_lines"
    item = spool.ledger.items.get(taken.item_id)
    assert item is not None and item.state == ItemState.UPLOADED and item.reason is None and item.envelopes == 2
    with pytest.raises(FileNotFoundError):  # replayed and in S3: its raw bytes leave the clinic PC
        spool.read_raw(taken.item_id, taken.sha256)

    listing, counts = keys(s3), spool.ledger.items.counts()
    again = with_adapter(spool)
    assert again.as_dict()["examined"] == 0 and again.parsed == 0
    assert spool.ledger.outbox.due(float("inf")) == [] and keys(s3) == listing and spool.ledger.items.counts() == counts


def test_still_unknown_stays_and_a_new_reason_gets_a_new_record(
    spool: Spool, before_upgrade: Intake, uploader: Uploader, s3: Any
) -> None:
    unknown = take(before_upgrade, b"\x00\x01 not a device file", "junk.bin")
    broken = take(before_upgrade, device_file("pid=P3 BROKEN"))
    drain(uploader)
    report = with_adapter(spool)
    assert report.parsed == 0 and report.still_quarantined == {"unknown_format": 1, "malformed": 1}
    assert report.new_reason == 1 and "still quarantined   2 (malformed 1, unknown_format 1)" in report.to_text()
    still = spool.ledger.items.get(unknown.item_id)
    assert still is not None and still.state == ItemState.UPLOADED and still.reason == "unknown_format"
    drain(uploader)  # the malformed one's new quarantine record replaces the old one in S3
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=f"quarantine/clinic1/{broken.sha256}.json")["Body"].read())
    assert record["reason"] == "malformed" and record["detail"] == "BROKEN marker found"
    assert spool.read_raw(broken.item_id, broken.sha256)  # still quarantined: still kept for the next replay
    again = with_adapter(spool)
    assert (
        again.new_reason == 0 and again.still_quarantined.total() == 2 and spool.ledger.outbox.due(float("inf")) == []
    )


def test_raw_bytes_past_retention_are_not_replayable(spool: Spool, before_upgrade: Intake, uploader: Uploader) -> None:
    take(before_upgrade, device_file("pid=P4 od=12"))
    drain(uploader)
    assert spool.release_expired_quarantine(datetime.now(UTC) + timedelta(days=29)) == 0
    assert with_adapter(spool, dry_run=True).parsed == 1  # within the retention
    spool.release_expired_quarantine(datetime.now(UTC) + timedelta(days=31))
    report = with_adapter(spool, keep_quarantined_days=30)
    assert report.parsed == 0 and report.not_replayable == {RELEASED: 1}
    assert "have left the spool (keep_quarantined_days = 30)" in report.to_text()


def test_without_retention_raw_bytes_leave_at_upload(tmp_path: Path, writer: RecordingWriter) -> None:
    spool = Spool(tmp_path / "plain", inline_raw_max_bytes=8)  # keep_quarantined_seconds = 0: as before
    taken = take(Intake(spool, IDENT, max_spool_bytes=10_000_000, adapters=[]), device_file("pid=P5 od=11"))
    drain(Uploader(spool, writer, backoff_base=0.01, backoff_max=0.05))
    assert not spool.blobs.exists(taken.sha256)
    assert replay(spool.ledger, spool.blobs, IDENT, adapters=[LineAdapter()]).not_replayable == {RELEASED: 1}
    spool.close()


def test_replay_before_upload_drops_the_unsent_record(
    spool: Spool, before_upgrade: Intake, uploader: Uploader, s3: Any
) -> None:
    take(before_upgrade, device_file("pid=P6 od=14"))
    assert with_adapter(spool).parsed == 1
    drain(uploader)
    assert [k.split("/")[0] for k in keys(s3)] == ["envelopes", "raw"]  # the stale record was never sent


def test_a_replay_during_an_upload_keeps_the_item_due(
    spool: Spool, before_upgrade: Intake, uploader: Uploader, writer: RecordingWriter, s3: Any
) -> None:
    taken = take(before_upgrade, device_file("pid=P8 od=14"))
    stale = spool.ledger.outbox.objects(taken.item_id)  # a running uploader has read the item's objects...
    assert with_adapter(spool).parsed == 1  # ...when the replay re-queues it
    now = datetime.now(UTC)
    for obj in stale:  # it puts and marks what it had read
        body = obj.body if obj.role != "raw" else spool.read_raw(taken.item_id, taken.sha256)
        writer.put(obj.key, body or b"", obj.content_type)
        spool.ledger.outbox.object_uploaded(taken.item_id, obj.seq, now)
    # Marking the item done is refused: the replay added objects this uploader has not put.
    assert spool.ledger.outbox.item_uploaded(taken.item_id, now, if_complete=True) == "incomplete"
    drain(uploader)
    assert [k.split("/")[0] for k in keys(s3)] == ["envelopes", "quarantine", "raw"]
    assert spool.ledger.items.get(taken.item_id).state == ItemState.UPLOADED  # type: ignore[union-attr]


def test_a_replay_in_another_process_updates_the_agents_spool_cap_count(
    spool: Spool, before_upgrade: Intake, uploader: Uploader
) -> None:
    take(before_upgrade, device_file("pid=P7 od=13"))
    drain(uploader)
    assert spool.ledger.items.pending_bytes() == 0
    other = Ledger(spool.ledger.path)  # `medflow-edge replay` beside the agent: its own connection
    try:
        assert replay(other, spool.blobs, IDENT, adapters=[LineAdapter()]).parsed == 1
    finally:
        other.close()
    assert spool.ledger.items.pending_bytes() == len(device_file("pid=P7 od=13"))


def config_file(tmp_path: Path, endpoint: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[agent]\nclinic_id = "clinic1"\nagent_id = "agent1"\ndata_dir = "data"\n\n'
        f'[cloud]\nbucket = "{BUCKET}"\nendpoint_url = "{endpoint}"\n',
        encoding="utf-8",
    )
    return path


def test_replay_command_with_the_real_adapters(
    tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str], writer: RecordingWriter, s3: Any
) -> None:
    config = config_file(tmp_path, str(writer.cloud.endpoint_url))
    spool = Spool(tmp_path / "data", keep_quarantined_seconds=KEEP)
    taken = take(Intake(spool, IDENT, max_spool_bytes=10_000_000, adapters=[]), (corpus_dir / TOPASCOPE).read_bytes())
    assert taken.quarantined

    assert main(["replay", "--config", str(config), "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert (
        dry["dry_run"] and dry["parsed"] == 1 and spool.ledger.items.get(taken.item_id).state == ItemState.QUARANTINED
    )  # type: ignore[union-attr]
    assert main(["replay", "--config", str(config), "--reason", "unknown_format"]) == 0
    out = capsys.readouterr().out
    assert "parsed now          1 (1 envelope(s)), queued for upload by the agent" in out
    assert "00000033" not in out and "TopaScope" not in out  # counts and reasons only
    drain(Uploader(spool, writer, backoff_base=0.01, backoff_max=0.05))
    (env_key,) = keys(s3, "envelopes/")
    env = json.loads(s3.get_object(Bucket=BUCKET, Key=env_key)["Body"].read())
    assert env["adapter"]["name"].startswith("tomey") and env["patient"]["id"] == "00000033"
    assert main(["replay", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examined"] == 0
    spool.close()


def test_replay_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDFLOW_EDGE_CONFIG", raising=False)
    assert main(["replay"]) == 2
    config = config_file(tmp_path, "http://127.0.0.1:1")
    assert main(["replay", "--config", str(config), "--reason", "nonsense"]) == 2
    assert "--reason must be one of" in capsys.readouterr().err
    assert main(["replay", "--config", str(config)]) == 2  # no spool there yet: the wrong data_dir?
    assert "no spool at" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("[agent]\nclinic_id = 'c'\n", encoding="utf-8")
    assert main(["replay", "--config", str(tmp_path / "bad.toml")]) == 2
