"""Crash at any point resumes without loss or duplicates: deterministic crash points, and a real SIGKILL."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET, IDENT, LineAdapter, RecordingWriter, device_file, drain, keys

from edge_agent.config import CloudSection
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.spool import ItemState, NewItem, Spool
from edge_agent.spool.uploader import Uploader, make_s3_client

KIT = Path(__file__).resolve().parents[1]
REPO = Path(__file__).resolve().parents[3]


class Crash(BaseException):
    """Stands for the process dying: nothing after this point runs, no cleanup code catches it."""


def restart(
    data: Path, cloud: CloudSection | None = None
) -> tuple[Spool, Intake, Uploader | None, RecordingWriter | None]:
    """What `medflow-edge run` does at start: tidy, resume, then upload."""
    spool = Spool(data)
    intake = Intake(spool, IDENT, max_spool_bytes=10**6, adapters=[LineAdapter()])
    spool.tidy()
    intake.resume()
    if cloud is None:
        return spool, intake, None, None
    writer = RecordingWriter(make_s3_client(cloud), cloud)
    return spool, intake, Uploader(spool, writer, backoff_base=0.01, backoff_max=0.02), writer


def submit(intake: Intake, raw: bytes) -> Any:
    return intake.submit(raw, Origin("t.txt", "mllp", "mllp://127.0.0.1:2575"))


def crash_on(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    def die(*args: object, **kwargs: object) -> None:
        raise Crash(name)

    monkeypatch.setattr(target, name, die)


BIG = device_file("pid=P1 od=15 pad=" + "x" * 200_000)  # over INLINE_RAW_MAX_BYTES: kept as a blob file


@pytest.mark.parametrize("raw", [device_file("pid=P1 od=15"), BIG], ids=["inline", "blob-file"])
def test_crash_before_the_ledger_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: bytes) -> None:
    """Blob file (if any) written, transaction not committed: nothing acknowledged, nothing left."""
    spool, intake, _, _ = restart(tmp_path / "data")
    crash_on(monkeypatch, spool.ledger.items, "insert_classified")
    with pytest.raises(Crash):
        submit(intake, raw)  # never acknowledged: the sender will send again
    spool.close()
    monkeypatch.undo()
    spool, intake, _, _ = restart(tmp_path / "data")
    assert spool.blobs.names() == set()  # the unacknowledged blob is gone, not a silent leftover
    assert sum(spool.ledger.items.counts().values()) == 0
    result = submit(intake, raw)
    assert not result.duplicate and result.envelopes == 1
    assert spool.read_raw(result.item_id, result.sha256) == raw


def test_crash_after_the_commit_before_the_ack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Committed but the source never answered: the resend is a duplicate, stored once, already parsed."""
    spool, intake, _, _ = restart(tmp_path / "data")
    real_store = spool.store

    def store_then_die(batch: Any) -> Any:
        real_store(batch)
        raise Crash("after commit")

    monkeypatch.setattr(spool, "store", store_then_die)
    raw = device_file("pid=P1 od=15", "pid=P2 od=16")
    with pytest.raises(Crash):
        submit(intake, raw)
    spool.close()
    monkeypatch.undo()
    spool, intake, _, _ = restart(tmp_path / "data")
    assert spool.ledger.items.counts()["received"] == 0 and spool.ledger.items.counts()["parsed"] == 1
    again = submit(intake, raw)
    assert again.duplicate and again.envelopes == 2


def test_received_rows_left_by_an_earlier_version_are_resumed(tmp_path: Path) -> None:
    """Earlier versions committed the raw row (`received`) before classifying; resume finishes those."""
    spool = Spool(tmp_path / "data")
    raw = device_file("pid=P1 od=15", "pid=P2 od=16")
    sha = hashlib.sha256(raw).hexdigest()
    spool.blobs.put(sha, raw)
    spool.ledger.items.insert_received(
        NewItem(sha, len(raw), "mllp", "mllp://x", "", "t.txt", None, (), datetime.now(UTC))
    )
    spool.close()
    spool, intake, _, _ = restart(tmp_path / "data")  # resume classifies what was left in `received`
    assert spool.ledger.items.counts()["received"] == 0 and spool.ledger.items.counts()["parsed"] == 1
    again = submit(intake, raw)
    assert again.duplicate and again.envelopes == 2


@pytest.mark.integration
@pytest.mark.parametrize("crash_after_puts", [1, 2])
def test_crash_during_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: CloudSection, s3: Any, crash_after_puts: int
) -> None:
    """1: raw put but not yet recorded; 2: raw and envelope put, neither recorded yet."""
    spool, intake, uploader, writer = restart(tmp_path / "data", cloud)
    assert uploader is not None and writer is not None
    result = submit(intake, device_file("pid=P1 od=15"))
    real_put = writer.put
    puts: list[str] = []

    def put_then_die(key: str, body: bytes, content_type: str, sha256_hex: str | None = None) -> None:
        real_put(key, body, content_type, sha256_hex)
        puts.append(key)
        if len(puts) == crash_after_puts:
            raise Crash(key)

    monkeypatch.setattr(writer, "put", put_then_die)
    with pytest.raises(Crash):
        uploader.run_once()
    spool.close()
    spool, _, uploader, writer = restart(tmp_path / "data", cloud)
    assert uploader is not None and writer is not None
    drain(uploader)
    # What S3 confirmed is recorded once per pass, in one transaction: a crash before that commit puts the
    # pass's objects again (same key, same bytes: harmless), and nothing is lost.
    assert len(writer.keys) == 2
    assert len(keys(s3)) == 2
    item = spool.ledger.items.get(result.item_id)
    assert item is not None and item.state == ItemState.UPLOADED and spool.blobs.names() == set()


CHILD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{kit!r}, {repo!r}]
    from pathlib import Path
    from agent_testkit import IDENT, LineAdapter, device_file
    from edge_agent.config import CloudSection
    from edge_agent.intake.intake import Intake
    from edge_agent.intake.port import Origin
    from edge_agent.spool import Spool
    from edge_agent.spool.uploader import ObjectWriter, Uploader, make_s3_client

    cloud = CloudSection(bucket={bucket!r}, endpoint_url={endpoint!r})
    spool = Spool(Path({data!r}))
    spool.tidy()
    intake = Intake(spool, IDENT, max_spool_bytes=10**9, adapters=[LineAdapter()])
    intake.resume()
    uploader = Uploader(spool, ObjectWriter(make_s3_client(cloud), cloud), idle_seconds=0.05)
    intake.on_new_item(uploader.wake)
    uploader.start()
    for n in range(100000):
        result = intake.submit(device_file(f"pid=P{{n}} od={{n % 40}}"), Origin(f"{{n}}.txt", "mllp", "mllp://x"))
        print("ACK", result.sha256, flush=True)
    """
)


@pytest.mark.integration
@pytest.mark.parametrize("kill_after", [3, 25])
def test_sigkill_mid_way_loses_nothing_acknowledged(
    tmp_path: Path, cloud: CloudSection, s3: Any, kill_after: int
) -> None:
    data = tmp_path / "data"
    script = CHILD.format(kit=str(KIT), repo=str(REPO), bucket=BUCKET, endpoint=cloud.endpoint_url, data=str(data))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    acked: list[str] = []
    assert child.stdout is not None
    for line in child.stdout:
        acked.append(line.split()[1])
        if len(acked) == kill_after:
            child.send_signal(signal.SIGKILL)  # no cleanup, mid-submit or mid-upload
            break
    child.wait(10)
    # Killed mid-way, not dead of its own: otherwise nothing below would be tested.
    assert child.returncode == -signal.SIGKILL and len(acked) == kill_after
    acked += [line.split()[1] for line in child.stdout.read().splitlines() if line.startswith("ACK")]
    spool, _, uploader, _ = restart(data, cloud)
    assert uploader is not None
    drain(uploader, passes=200)
    counts = spool.ledger.items.counts()
    assert counts["received"] == counts["parsed"] == counts["quarantined"] == 0
    for sha in acked:
        item = spool.ledger.items.find(sha)
        assert item is not None and item.state == ItemState.UPLOADED, sha
    stored = keys(s3)
    uploaded_shas = {k.rsplit("/", 1)[1].split(".")[0] for k in stored}
    assert set(acked) <= uploaded_shas
    assert len(stored) == 2 * counts["uploaded"]  # every item: one raw + one envelope, never twice
    assert spool.blobs.names() == set()
    spool.close()
