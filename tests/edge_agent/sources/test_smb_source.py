"""The SMB source against a real Samba smbd on 127.0.0.1: taking files, settling, outages, credentials, encryption."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_testkit import RecordingWriter, device_file, drain
from smbd_testkit import Blackhole, Smbd, start_smbd
from test_folder_source import FakeIntake, wait_for

from edge_agent.config import SmbSourceConfig
from edge_agent.intake.intake import Intake, Taken
from edge_agent.sources.seen import SeenFiles, read_statuses
from edge_agent.sources.smb import SmbSource
from edge_agent.spool.uploader import Uploader

pytestmark = pytest.mark.integration

PASSWORD_ENV = "MEDFLOW_SMB_PASSWORD"


def smb_config(smbd: Smbd, path: str, **overrides: object) -> SmbSourceConfig:
    values: dict[str, object] = {
        "name": "oct-share",
        "server": "127.0.0.1",
        "port": smbd.port,
        "share": "exports",
        "path": path,
        "username": "medflow",
        "password_env": PASSWORD_ENV,
        "settle_seconds": 0.3,
        "rescan_seconds": 0.5,
        "reconnect_max_seconds": 0.5,
        "patient_id_patterns": ["{patient_id}/*"],
    }
    values.update(overrides)
    return SmbSourceConfig.model_validate(values)


@pytest.fixture
def folder(smbd: Smbd, request: pytest.FixtureRequest) -> Path:
    """A folder of its own inside the shared `exports` share, per test."""
    path = smbd.share_dir("exports") / request.node.name.replace("[", "_").replace("]", "")
    path.mkdir()
    return path


@pytest.fixture
def environ() -> dict[str, str]:
    return {PASSWORD_ENV: "s3cret-1"}


class Running:
    def __init__(self, source: SmbSource, fake: FakeIntake) -> None:
        self.source, self.fake = source, fake


@pytest.fixture
def run(smbd: Smbd, folder: Path, environ: dict[str, str]) -> Iterator[Running]:
    fake = FakeIntake()
    source = SmbSource(smb_config(smbd, folder.name), fake, environ=environ)
    source.start()
    yield Running(source, fake)
    source.stop()


def test_new_files_and_nested_folders_are_taken_once_with_their_paths(run: Running, folder: Path) -> None:
    (folder / "P100" / "visit-2").mkdir(parents=True)
    (folder / "P100" / "oct.xml").write_bytes(b"first")
    (folder / "P100" / "visit-2" / "scan.dcm").write_bytes(b"second")
    (folder / "top.txt").write_bytes(b"third")
    (folder / "skip.tmp").write_bytes(b"excluded")

    assert wait_for(lambda: len(run.fake.calls) >= 3, timeout=10)
    time.sleep(1.0)  # further listings and notifies: nothing taken twice
    assert run.fake.rels() == ["P100/oct.xml", "P100/visit-2/scan.dcm", "top.txt"]
    by_rel = {c["rel"]: c for c in run.fake.calls}
    assert by_rel["P100/oct.xml"]["raw"] == b"first"
    assert by_rel["P100/oct.xml"]["kind"] == "smb" and by_rel["P100/oct.xml"]["name"] == "oct.xml"
    assert by_rel["P100/oct.xml"]["patterns"] == ("{patient_id}/*",)
    assert str(by_rel["top.txt"]["uri"]).startswith(f"smb://127.0.0.1:{run.source.config.port}/exports/")
    assert run.source.status == "ok"

    (folder / "top.txt").write_bytes(b"third, corrected")  # a device rewrites a file: taken again
    assert wait_for(lambda: len(run.fake.calls) == 4, timeout=10)
    assert run.fake.calls[-1]["raw"] == b"third, corrected"


def test_a_slow_writer_gives_one_submit_of_the_complete_file(run: Running, folder: Path) -> None:
    chunks = [bytes([i]) * 4096 for i in range(8)]
    with (folder / "slow.bin").open("wb") as fh:
        for chunk in chunks:  # ~2 s of writing, pauses shorter than settle_seconds
            fh.write(chunk)
            fh.flush()
            time.sleep(0.25)
    assert wait_for(lambda: len(run.fake.calls) >= 1, timeout=10)
    time.sleep(1.0)
    assert [c["raw"] for c in run.fake.calls] == [b"".join(chunks)]


def test_a_server_restart_mid_transfer_loses_and_duplicates_nothing(run: Running, folder: Path, smbd: Smbd) -> None:
    files = {f"batch/f{i:02}.bin": hashlib.sha256(str(i).encode()).digest() * 16384 for i in range(30)}  # 512 KiB each
    (folder / "batch").mkdir()
    for rel, body in files.items():
        (folder / rel).write_bytes(body)
    assert wait_for(lambda: len(run.fake.calls) >= 1, timeout=10)
    smbd.restart()  # the source is reading the batch now
    assert wait_for(lambda: len(run.fake.calls) >= len(files), timeout=30)
    time.sleep(1.0)
    assert run.source.connections >= 2  # it did lose the server and connect again
    assert run.fake.rels() == sorted(files)  # each once
    assert all(c["raw"] == files[str(c["rel"])] for c in run.fake.calls)  # complete bytes, never partial


def test_wrong_password_says_auth_failed_and_a_fixed_password_resumes(
    smbd: Smbd, folder: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    (folder / "a.txt").write_bytes(b"waiting")
    environ[PASSWORD_ENV] = "Mistyped-Pw9"
    fake = FakeIntake()
    seen = SeenFiles(tmp_path / "sources.db")
    source = SmbSource(smb_config(smbd, folder.name), fake, environ=environ, seen=seen)
    source.start()
    try:
        assert wait_for(lambda: source.status == "auth_failed", timeout=10)
        assert "password" in source.status_detail and "Mistyped-Pw9" not in source.status_detail
        reported = read_statuses(tmp_path / "sources.db")["oct-share"]  # what `status` and /healthz show
        assert reported["status"] == "auth_failed" and reported["detail"] == source.status_detail
        time.sleep(1.0)
        assert fake.calls == []
        assert source.connections == 0
        environ[PASSWORD_ENV] = "s3cret-1"  # the IT person fixes the agent's password
        assert wait_for(lambda: fake.rels() == ["a.txt"], timeout=10)
        assert source.status == "ok" and read_statuses(tmp_path / "sources.db")["oct-share"]["status"] == "ok"

        # The password is rotated on the server: the next connection fails until the agent gets it too.
        smbd.set_password("rotated-2")
        smbd.drop_connections()
        (folder / "b.txt").write_bytes(b"after rotation")
        assert wait_for(lambda: source.status == "auth_failed", timeout=10)
        environ[PASSWORD_ENV] = "rotated-2"
        assert wait_for(lambda: fake.rels() == ["a.txt", "b.txt"], timeout=10)
    finally:
        source.stop()
        seen.close()
        smbd.set_password("s3cret-1")


def test_a_removed_share_is_reported_and_its_return_resumes_intake(run: Running, folder: Path, smbd: Smbd) -> None:
    (folder / "before.txt").write_bytes(b"before")
    assert wait_for(lambda: run.fake.rels() == ["before.txt"], timeout=10)
    shares = dict(smbd.shares)
    smbd.set_shares({k: v for k, v in shares.items() if k != "exports"})
    try:
        smbd.drop_connections()  # what a reconnecting client meets: the share is gone
        assert wait_for(lambda: run.source.status == "share_missing", timeout=10)
        (folder / "during.txt").write_bytes(b"during")
        time.sleep(1.0)
        assert run.fake.rels() == ["before.txt"]
    finally:
        smbd.set_shares(shares)
    assert wait_for(lambda: run.fake.rels() == ["before.txt", "during.txt"], timeout=15)
    assert run.source.status == "ok"


def test_encrypt_true_on_an_encrypting_share_works(smbd: Smbd, environ: dict[str, str]) -> None:
    (smbd.share_dir("secure") / "enc").mkdir(exist_ok=True)
    (smbd.share_dir("secure") / "enc" / "x.txt").write_bytes(b"secret exam")
    fake = FakeIntake()
    source = SmbSource(smb_config(smbd, "enc", share="secure", encrypt=True), fake, environ=environ)
    source.start()
    try:
        assert wait_for(lambda: fake.rels() == ["x.txt"], timeout=10)
        assert source.share.encrypted and source.status_detail == "encrypted"
    finally:
        source.stop()


def test_encrypt_true_against_a_server_without_encryption_is_refused(tmp_path: Path, environ: dict[str, str]) -> None:
    old = start_smbd(tmp_path / "smb2", max_protocol="SMB2_10")  # SMB 2.1 cannot encrypt
    (old.share_dir("exports") / "plain").mkdir()
    (old.share_dir("exports") / "plain" / "x.txt").write_bytes(b"exam")
    fake = FakeIntake()
    source = SmbSource(smb_config(old, "plain", encrypt=True), fake, environ=environ)
    source.start()
    try:
        assert wait_for(lambda: source.status == "encryption_unavailable", timeout=10)
        assert "encrypt" in source.status_detail
        time.sleep(1.0)
        assert fake.calls == []
        unencrypted = SmbSource(smb_config(old, "plain"), FakeIntake(), environ=environ)
        unencrypted.start()  # the same server is fine without encrypt = true (signed only)
        try:
            assert wait_for(lambda: unencrypted.status == "ok", timeout=10)
            assert unencrypted.status_detail == "signed"
        finally:
            unencrypted.stop()
    finally:
        source.stop()
        old.stop()


def test_the_source_never_writes_to_the_share_nor_logs_names(
    smbd: Smbd, folder: Path, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything our loggers and smbprotocol's would say
    (folder / "Okello_Amani").mkdir()
    (folder / "Okello_Amani" / "r.xml").write_bytes(b"refraction")
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}
    fake = FakeIntake()
    source = SmbSource(smb_config(smbd, folder.name), fake, environ=environ)
    source.start()
    try:
        assert wait_for(lambda: fake.rels() == ["Okello_Amani/r.xml"], timeout=10)
        time.sleep(0.5)
    finally:
        source.stop()
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")} == before
    assert "file taken" in caplog.text and "Okello" not in caplog.text and "r.xml" not in caplog.text


def test_change_notify_finds_a_file_before_the_listing_would(smbd: Smbd, folder: Path, environ: dict[str, str]) -> None:
    fake = FakeIntake()
    source = SmbSource(smb_config(smbd, folder.name, rescan_seconds=60), fake, environ=environ)
    source.start()
    try:
        assert wait_for(lambda: source.notify, timeout=10)
        time.sleep(0.3)  # the first listing is done; the next one is a minute away
        started = time.monotonic()
        threading.Timer(0.1, lambda: (folder / "new.txt").write_bytes(b"notified")).start()
        assert wait_for(lambda: fake.rels() == ["new.txt"], timeout=10)
        assert time.monotonic() - started < 5  # settle (0.3 s) plus notify, not the 60 s listing
    finally:
        source.stop()


def test_an_agent_restart_reads_and_uploads_nothing_again(
    smbd: Smbd, folder: Path, environ: dict[str, str], tmp_path: Path, intake: Intake, uploader: Uploader,
    writer: RecordingWriter,
) -> None:  # fmt: skip
    """The real intake, spool and uploader to the moto server; the source's memory survives the restart."""
    (folder / "P5").mkdir()
    (folder / "P5" / "iop.txt").write_bytes(device_file("od=15 os=16"))
    (folder / "P6").mkdir()
    (folder / "P6" / "iop.txt").write_bytes(device_file("od=21 os=19"))
    (folder / "broken.txt").write_bytes(device_file("BROKEN"))
    taken: list[Taken] = []
    intake.on_taken(taken.extend)

    def run_once(wait: Callable[[], bool]) -> SmbSource:
        seen = SeenFiles(tmp_path / "sources.db")
        source = SmbSource(smb_config(smbd, folder.name), intake, seen=seen, environ=environ)
        source.start()
        try:
            assert wait_for(wait, timeout=10)
            time.sleep(1.5)  # three listings and a notify or two
        finally:
            source.stop()
            seen.close()
        return source

    run_once(lambda: len(taken) == 3)
    drain(uploader)
    assert sorted(t.result.quarantined for t in taken) == [False, False, True]
    raw = [k for k in writer.keys if k.startswith("raw/")]
    assert len(raw) == 3 and len([k for k in writer.keys if k.startswith("envelopes/")]) == 2
    puts = len(writer.keys)

    again = run_once(lambda: True)  # restart: only the listing, no read
    drain(uploader)
    assert len(taken) == 3 and again.taken_count == 0
    assert len(writer.keys) == puts  # nothing uploaded again


def test_a_silently_dropped_network_is_noticed_and_survived(smbd: Smbd, folder: Path, environ: dict[str, str]) -> None:
    link = Blackhole(smbd.port)
    fake = FakeIntake()
    source = SmbSource(smb_config(smbd, folder.name, port=link.port, timeout_seconds=1), fake, environ=environ)
    source.start()
    try:
        (folder / "before.txt").write_bytes(b"before")
        assert wait_for(lambda: fake.rels() == ["before.txt"], timeout=10)
        link.cut.set()  # no reset, no refusal: packets just stop
        (folder / "during.txt").write_bytes(b"during")
        assert wait_for(lambda: source.status == "unreachable", timeout=15)  # keep-alive unanswered
        assert fake.rels() == ["before.txt"]
        link.cut.clear()
        assert wait_for(lambda: fake.rels() == ["before.txt", "during.txt"], timeout=15)
        assert source.status == "ok" and source.connections >= 2
    finally:
        source.stop()
        link.close()
