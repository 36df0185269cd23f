"""Spool limits: the item and byte caps with hysteresis, seen by every source (MLLP AR, ASTM NAK, the
folder file left in place), by /healthz, status and the heartbeat; and a really full disk (a 2 MB
tmpfs mounted for the test) behaving the same, with the database intact and nothing half-stored."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import serial
from agent_testkit import IDENT, LineAdapter, device_file

from edge_agent.adapters.astm import AstmAdapter
from edge_agent.adapters.hl7 import Hl7Adapter
from edge_agent.config import FolderSourceConfig, MllpSourceConfig, SerialSourceConfig, parse_config
from edge_agent.framing.astm_e1381 import AstmSession
from edge_agent.framing.mllp import MllpDecoder, encode
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.ops.health import Counters, HealthServer
from edge_agent.ops.heartbeat import Heartbeat
from edge_agent.ops.status import read_status
from edge_agent.sources.folder import FolderSource
from edge_agent.sources.mllp import MllpSource
from edge_agent.sources.serial import SerialSource
from edge_agent.spool import Spool, SpoolFull
from edge_agent.spool.uploader import ObjectWriter
from localdev.moto import free_port

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ORIGIN = Origin("f.txt", "folder", "file:///in/f.txt")


def upload(spool: Spool, item_id: int) -> None:
    spool.ledger.outbox.item_uploaded(item_id, datetime.now(UTC))


class CountingAdapter(LineAdapter):
    parsed = 0

    def parse(self, raw: bytes, ctx: Any) -> Any:
        type(self).parsed += 1
        return super().parse(raw, ctx)


def test_item_cap_refuses_until_the_backlog_is_below_the_resume_mark(spool: Spool) -> None:
    adapter = CountingAdapter()
    intake = Intake(spool, IDENT, max_spool_bytes=10**9, max_spool_items=4, spool_resume_ratio=0.5, adapters=[adapter])
    kept = [intake.submit(device_file(f"pid=P{i} od=15"), ORIGIN) for i in range(4)]
    with pytest.raises(SpoolFull, match=r"^spool_full: \d+ bytes in 4 items waiting \(cap 1000000000 bytes, 4 items\)"):
        intake.submit(device_file("pid=P9 od=15"), ORIGIN)
    assert read_status(spool.data_dir).refusing == "spool_full"
    assert intake.submit(device_file("pid=P0 od=15"), ORIGIN).duplicate  # known bytes are still answered

    upload(spool, kept[0].item_id)  # 3 waiting: room for one, but not yet below half the cap
    intake.relieve()
    parsed = CountingAdapter.parsed
    with pytest.raises(SpoolFull):
        intake.submit(device_file("pid=P9 od=15"), ORIGIN)
    assert CountingAdapter.parsed == parsed  # refused before parsing: a full spool costs no CPU per retry
    assert sum(spool.ledger.items.counts().values()) == 4

    upload(spool, kept[1].item_id)  # 2 waiting = 50 % of 4: taking again, without waiting for an input
    intake.relieve()
    report = read_status(spool.data_dir)
    assert report.alarm is None and report.refusing is None and report.pending_items == 2
    assert not intake.submit(device_file("pid=P9 od=15"), ORIGIN).duplicate


def test_byte_cap_has_the_same_hysteresis(spool: Spool) -> None:
    intake = Intake(spool, IDENT, max_spool_bytes=300, spool_resume_ratio=0.5, adapters=[LineAdapter()])
    first = intake.submit(device_file("pid=P1 od=15 " + "x=1 " * 30), ORIGIN)  # ~150 bytes
    second = intake.submit(device_file("pid=P2 od=15 " + "x=1 " * 30), ORIGIN)
    with pytest.raises(SpoolFull, match="cap 300 bytes"):
        intake.submit(device_file("pid=P3 od=15 " + "x=1 " * 30), ORIGIN)
    small = device_file("pid=P4 od=1")
    with pytest.raises(SpoolFull):  # it would fit under the cap, but the spool is refusing until 150
        intake.submit(small, ORIGIN)
    upload(spool, first.item_id)
    upload(spool, second.item_id)
    assert not intake.submit(small, ORIGIN).duplicate


# --- every source says no in its own protocol, and takes the input later --------------------------


HL7 = (
    b"MSH|^~\\&|XP|LAB|LIS|CLINIC|20240101120000||ORU^R01|MSG%04d|P|2.5\r"
    b"PID|1||P123\rOBR|1|ORD1|ACC1\rOBX|1|NM|WBC^White cells^L||5.5|10*3/uL|4-10|N|||F\r"
)


def _ack(conn: Any, decoder: MllpDecoder, message: bytes) -> bytes:
    conn.sendall(encode(message))
    while True:
        for frame in decoder.feed(conn.recv(65536)):
            return bytes(frame)


def test_mllp_answers_ar_with_spool_full_then_aa_once_drained(spool: Spool) -> None:
    intake = Intake(spool, IDENT, max_spool_bytes=10**9, max_spool_items=1, adapters=[Hl7Adapter()])
    source = MllpSource(MllpSourceConfig(name="lab", port=free_port()), intake)
    source.start()
    try:
        assert source.port is not None
        with socket.create_connection(("127.0.0.1", source.port), timeout=10) as conn:
            decoder = MllpDecoder()
            assert b"MSA|AA|MSG0001" in _ack(conn, decoder, HL7 % 1)
            refused = _ack(conn, decoder, HL7 % 2).decode()
            msa = next(s for s in refused.split("\r") if s.startswith("MSA|"))
            assert msa.startswith("MSA|AR|MSG0002|spool_full: ") and "1 items waiting" in msa
            assert any(s.startswith("ERR|") and "spool_full" in s for s in refused.split("\r"))
            assert sum(spool.ledger.items.counts().values()) == 1  # nothing of it stored
            upload(spool, 1)
            intake.relieve()
            assert b"MSA|AA|MSG0002" in _ack(conn, decoder, HL7 % 2)  # the analyzer's resend is taken
    finally:
        source.stop()


def test_folder_file_stays_untouched_while_full_and_is_taken_later(spool: Spool, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    intake = Intake(spool, IDENT, max_spool_bytes=10**9, max_spool_items=1, adapters=[LineAdapter()])
    config = FolderSourceConfig(name="inbox", path=inbox, settle_seconds=0.05, rescan_seconds=0.2)
    source = FolderSource(config, intake)
    (inbox / "a.txt").write_bytes(device_file("pid=P1 od=15"))
    source.start()
    try:
        _until(lambda: sum(spool.ledger.items.counts().values()) == 1)
        waiting = inbox / "b.txt"
        waiting.write_bytes(device_file("pid=P2 od=16"))
        before = waiting.stat()
        _until(lambda: spool.refusing is not None)  # offered, refused
        time.sleep(0.3)
        after = waiting.stat()
        assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns) and waiting.exists()
        assert sum(spool.ledger.items.counts().values()) == 1
        upload(spool, 1)
        intake.relieve()
        _until(lambda: sum(spool.ledger.items.counts().values()) == 2, timeout=10)
    finally:
        source.stop()


@pytest.mark.integration
def test_serial_astm_is_not_acknowledged_while_full_and_the_resend_is_taken(
    spool: Spool, null_modem: tuple[Path, Path]
) -> None:
    agent_end, device_end = null_modem
    intake = Intake(spool, IDENT, max_spool_bytes=10**9, max_spool_items=1, adapters=[AstmAdapter()])
    source = SerialSource(SerialSourceConfig(name="chem", device=str(agent_end)), intake)
    source.start()
    assert source.opened.wait(5)
    records = [b"H|\\^&|||ANALYZER", b"P|1||PS1", b"O|1|S1||^^^GLU", b"R|1|^^^GLU|%d|mg/dL||N||F", b"L|1|N"]
    port = serial.Serial(str(device_end), 9600, timeout=0.05)
    try:

        def send(value: int) -> bool:
            done: list[bool] = []
            session = AstmSession(write=port.write, on_sent=lambda ok, _d: done.append(ok), role="instrument")
            session.send([r % value if b"%d" in r else r for r in records], time.monotonic())
            deadline = time.monotonic() + 20
            while session.busy and time.monotonic() < deadline:
                data = bytes(port.read(port.in_waiting or 1))
                if data:
                    session.feed(data, time.monotonic())
                session.poll(time.monotonic())
            return done == [True]

        assert send(90)
        assert not send(91)  # the final frame is NAKed every time: the analyzer keeps the result
        assert sum(spool.ledger.items.counts().values()) == 1
        upload(spool, 1)
        intake.relieve()
        assert send(91)
        assert sum(spool.ledger.items.counts().values()) == 2
    finally:
        port.close()
        source.stop()


# --- the alarm is visible: /healthz, status, heartbeat ----------------------------------------------


def test_healthz_status_and_heartbeat_say_spool_full(spool: Spool) -> None:
    intake = Intake(spool, IDENT, max_spool_bytes=10**9, max_spool_items=1, adapters=[LineAdapter()])
    kept = intake.submit(device_file("pid=P1 od=15"), ORIGIN)
    with pytest.raises(SpoolFull):
        intake.submit(device_file("pid=P2 od=15"), ORIGIN)
    health = HealthServer(spool.ledger.path, Counters(), port=0, refusing=lambda: spool.refusing)
    health.start()
    try:
        code, body = _get(f"http://127.0.0.1:{health.port}/healthz")
        assert code == 503 and body["refusing"] == "spool_full" and body["pending_items"] == 1
        assert body["alarm"].startswith("spool_full: ")
        beat = Heartbeat(spool, ObjectWriter(None, _cloud()), IDENT, interval=60).build()
        extra = beat.model_dump(by_alias=True)
        assert (
            extra["refusing"] == "spool_full"
            and extra["alarm"].startswith("spool_full")
            and extra["pending_items"] == 1
        )
        assert "intake          refusing new items (spool_full)" in read_status(spool.data_dir).to_text()
        upload(spool, kept.item_id)
        intake.relieve()
        code, body = _get(f"http://127.0.0.1:{health.port}/healthz")
        assert code == 200 and body["refusing"] is None and body["alarm"] is None
        assert "refusing" not in Heartbeat(spool, ObjectWriter(None, _cloud()), IDENT, interval=60).build().model_dump(
            by_alias=True, exclude_none=True
        )
    finally:
        health.stop()


def test_config_takes_the_caps() -> None:
    base = {"cloud": {"bucket": "b-bucket"}}
    config = parse_config({"agent": {"clinic_id": "c", "agent_id": "a", "data_dir": "/tmp/x", "max_spool_items": 500,
                                     "spool_resume_ratio": 0.8}, **base})  # fmt: skip
    assert config.agent.max_spool_items == 500 and config.agent.spool_resume_ratio == 0.8
    default = parse_config({"agent": {"clinic_id": "c", "agent_id": "a", "data_dir": "/x"}, **base})
    assert default.agent.max_spool_items is None and default.agent.spool_resume_ratio == 0.9


# --- a really full disk ----------------------------------------------------------------------------


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted for the test (needs root, or CAP_SYS_ADMIN): ENOSPC from the kernel itself."""
    volume = tmp_path / "vol"
    volume.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(volume)], capture_output=True)
    if done.returncode != 0:
        message = f"cannot mount a small tmpfs for the disk-full test: {done.stderr.decode().strip()}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield volume
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=False)


def _fill(volume: Path, leave: int) -> Path:
    """A filler file taking all but about `leave` bytes of the volume."""
    filler = volume / "filler"
    st = os.statvfs(volume)
    free = st.f_bavail * st.f_frsize
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


@pytest.mark.parametrize("size", [2_000, 200_000], ids=["inline", "blob-file"])
def test_disk_full_refuses_like_the_cap_keeps_the_database_whole_and_resumes(small_volume: Path, size: int) -> None:
    spool = Spool(small_volume / "data")
    try:
        intake = Intake(spool, IDENT, max_spool_bytes=10**9, adapters=[LineAdapter()])
        kept = intake.submit(device_file("pid=P0 od=15"), ORIGIN)
        filler = _fill(small_volume, leave=16_384)
        refused = 0
        stored = []
        for i in range(60):  # until the disk refuses
            body = device_file(f"pid=P{i + 1} od=15 pad={'x' * size}")
            try:
                stored.append(intake.submit(body, ORIGIN))
            except SpoolFull as exc:
                assert str(exc).startswith("spool_full: disk full: the disk holding the spool is full")
                refused += 1
                if refused >= 3:
                    break
        assert refused >= 3
        assert spool.refusing is not None and spool.refusing.startswith("spool_full: disk full")
        health = HealthServer(spool.ledger.path, Counters(), port=0, refusing=lambda: spool.refusing)
        try:
            assert health.health()[0] == 503 and health.health()[1]["refusing"] == "spool_full"
        finally:
            health.stop()
        # Nothing half-stored: every row has its raw bytes, no blob without a row, no temporary left.
        items = 1 + len(stored)
        assert sum(spool.ledger.items.counts().values()) == items
        for result in [kept, *stored]:
            assert spool.read_raw(result.item_id, result.sha256)
        assert spool.blobs.names() <= {r.sha256 for r in stored}
        assert not list((small_volume / "data" / "blobs").glob("??/*.tmp-*"))
        assert _integrity(small_volume / "data" / "spool.db") == ["ok"]

        filler.unlink()  # space is back: the next input is taken and the alarm is gone
        again = intake.submit(device_file(f"pid=P99 od=15 pad={'y' * size}"), ORIGIN)
        assert not again.duplicate and spool.refusing is None
        assert "alarm" not in spool.ledger.meta.read()
        assert _integrity(small_volume / "data" / "spool.db") == ["ok"]
    finally:
        spool.close()


# --- helpers ---------------------------------------------------------------------------------------


def _integrity(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def _cloud() -> Any:
    from edge_agent.config import CloudSection

    return CloudSection(bucket="b-bucket")


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
