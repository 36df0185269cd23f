"""Folder source on a real filesystem (inotify): settling, filters, rescans, originals kept, retries."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import FolderSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.intake.port import Input, IntakeResult, Origin
from edge_agent.sources.folder import FolderSource
from edge_agent.spool import ItemState, SpoolFull

pytestmark = pytest.mark.integration


class FakeIntake:
    """Records what the source submits; `refuse` makes the next submits raise SpoolFull."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []
        self.refuse = 0
        self.states: dict[int, ItemState] = {}
        self.lock = threading.Lock()

    def submit(self, raw: bytes, origin: Origin, *, siblings: Sequence[str] = ()) -> IntakeResult:
        with self.lock:
            if self.refuse:
                self.refuse -= 1
                raise SpoolFull("spool_full: test")
            o = origin
            self.calls.append({"raw": raw, "name": o.name, "kind": o.source_kind, "uri": o.uri, "rel": o.relative_path,
                               "device_id": o.device_id, "patterns": tuple(o.patient_id_patterns),
                               "siblings": tuple(siblings)})  # fmt: skip
            item_id = len(self.calls)
            self.states[item_id] = ItemState.PARSED
        return IntakeResult(item_id, "0" * 64, False, False, None, "", 1)

    def submit_many(self, inputs: Sequence[Input]) -> list[IntakeResult | EdgeAgentError]:
        results: list[IntakeResult | EdgeAgentError] = []
        for entry in inputs:
            try:
                results.append(self.submit(entry.raw, entry.origin, siblings=entry.siblings))
            except EdgeAgentError as exc:
                results.append(exc)
        return results

    def state(self, item_id: int) -> ItemState | None:
        return self.states.get(item_id)

    def rels(self) -> list[str]:
        with self.lock:
            return sorted(str(c["rel"]) for c in self.calls)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def make_source(inbox: Path) -> Iterator[Callable[..., tuple[FolderSource, FakeIntake]]]:
    started: list[FolderSource] = []

    def make(**overrides: object) -> tuple[FolderSource, FakeIntake]:
        settings: dict[str, object] = {"settle_seconds": 0.3, "rescan_seconds": 30, **overrides}
        config = FolderSourceConfig(name="inbox", path=inbox, **settings)  # type: ignore[arg-type]
        fake = FakeIntake()
        source = FolderSource(config, fake)
        source.start()
        started.append(source)
        return source, fake

    yield make
    for source in started:
        source.stop()


def write_slowly(path: Path, chunks: list[bytes], pause: float) -> None:
    with open(path, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
            time.sleep(pause)


def test_a_file_written_slowly_is_taken_once_complete(
    make_source: Callable[..., tuple[FolderSource, FakeIntake]], inbox: Path
) -> None:
    _, fake = make_source(settle_seconds=0.5)
    chunks = [b"TESTDEV\n", b"pid=P1 ", b"od=15 ", b"os=17\n"]
    done = threading.Event()
    writer = threading.Thread(target=lambda: (write_slowly(inbox / "slow.txt", chunks, 0.25), done.set()))
    writer.start()
    while not done.is_set():
        assert fake.calls == [], "taken while still being written"
        time.sleep(0.02)
    writer.join()
    finished = time.monotonic()
    assert wait_for(lambda: len(fake.calls) == 1)
    assert time.monotonic() - finished >= 0.2  # it waited for the file to hold still
    assert fake.calls[0]["raw"] == b"".join(chunks)
    time.sleep(0.8)
    assert len(fake.calls) == 1  # taken once, not once per event


def test_metadata_passed_and_original_untouched(
    make_source: Callable[..., tuple[FolderSource, FakeIntake]], inbox: Path
) -> None:
    _, fake = make_source(device_id="tono-1", patient_id_patterns=["{patient_id}/*"])
    (inbox / "P42").mkdir()
    target = inbox / "P42" / "exam.xml"
    target.write_bytes(b"<exam/>")
    before = target.stat()
    assert wait_for(lambda: len(fake.calls) == 1)
    call = fake.calls[0]
    assert (call["name"], call["kind"], call["rel"], call["device_id"]) == (
        "exam.xml",
        "folder",
        "P42/exam.xml",
        "tono-1",
    )
    assert call["uri"] == target.as_uri() and call["patterns"] == ("{patient_id}/*",)
    after = target.stat()
    assert target.read_bytes() == b"<exam/>" and (after.st_mtime_ns, after.st_size) == (
        before.st_mtime_ns,
        before.st_size,
    )


def test_excluded_and_not_included_files_are_ignored(
    make_source: Callable[..., tuple[FolderSource, FakeIntake]], inbox: Path
) -> None:
    _, fake = make_source(include=["*.xml", "*.txt"])
    for name in ["a.xml", "b.tmp", "~$c.xml", ".hidden.xml", "d.pdf", "e.txt"]:
        (inbox / name).write_bytes(b"x" + name.encode())
    (inbox / ".sync").mkdir()
    (inbox / ".sync" / "f.xml").write_bytes(b"f")
    assert wait_for(lambda: len(fake.calls) >= 2)
    time.sleep(0.6)
    assert fake.rels() == ["a.xml", "e.txt"]


def test_not_recursive_takes_only_top_level(
    make_source: Callable[..., tuple[FolderSource, FakeIntake]], inbox: Path
) -> None:
    (inbox / "sub").mkdir()
    (inbox / "sub" / "deep.txt").write_bytes(b"deep")
    (inbox / "top.txt").write_bytes(b"top")
    _, fake = make_source(recursive=False)
    assert wait_for(lambda: len(fake.calls) >= 1)
    time.sleep(0.6)
    assert fake.rels() == ["top.txt"]


def test_files_present_at_start_and_folders_moved_in_are_found(
    make_source: Callable[..., tuple[FolderSource, FakeIntake]], inbox: Path, tmp_path: Path
) -> None:
    (inbox / "old.txt").write_bytes(b"old")
    _, fake = make_source()
    assert wait_for(lambda: fake.rels() == ["old.txt"])
    staged = tmp_path / "staged"
    (staged / "P7").mkdir(parents=True)
    (staged / "P7" / "x.txt").write_bytes(b"x")
    os.rename(staged, inbox / "batch")  # one directory event, no per-file events
    assert wait_for(lambda: fake.rels() == ["batch/P7/x.txt", "old.txt"])


def test_rescan_alone_finds_files_when_the_folder_appears_later(tmp_path: Path) -> None:
    root = tmp_path / "share"  # not mounted yet at start
    config = FolderSourceConfig(name="late", path=root, settle_seconds=0.2, rescan_seconds=0.3)
    fake = FakeIntake()
    source = FolderSource(config, fake)
    source.start()
    try:
        time.sleep(0.4)
        root.mkdir()
        (root / "a.txt").write_bytes(b"a")
        assert wait_for(lambda: fake.rels() == ["a.txt"])
    finally:
        source.stop()


def test_spool_refusal_and_read_errors_are_retried_never_fatal(
    make_source: Callable[..., tuple[FolderSource, FakeIntake]], inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = Path.read_bytes
    failures = {"locked.txt": 2}  # e.g. the device software still holds the file open exclusively

    def flaky_read(path: Path) -> bytes:
        if failures.get(path.name, 0) > 0:
            failures[path.name] -= 1
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", flaky_read)
    _, fake = make_source(settle_seconds=0.05)
    fake.refuse = 1
    (inbox / "a.txt").write_bytes(b"a")
    (inbox / "locked.txt").write_bytes(b"locked")
    assert wait_for(lambda: fake.rels() == ["a.txt", "locked.txt"], timeout=5)
    assert failures["locked.txt"] == 0 and fake.refuse == 0


def test_a_changed_file_is_taken_again(
    make_source: Callable[..., tuple[FolderSource, FakeIntake]], inbox: Path
) -> None:
    _, fake = make_source(settle_seconds=0.1)
    (inbox / "a.txt").write_bytes(b"v1")
    assert wait_for(lambda: len(fake.calls) == 1)
    (inbox / "a.txt").write_bytes(b"version 2")
    assert wait_for(lambda: len(fake.calls) == 2)
    assert [c["raw"] for c in fake.calls] == [b"v1", b"version 2"]


def test_delete_after_upload_waits_for_the_upload(
    make_source: Callable[..., tuple[FolderSource, FakeIntake]], inbox: Path
) -> None:
    _, fake = make_source(settle_seconds=0.1, delete_after_upload=True)
    (inbox / "a.txt").write_bytes(b"a")
    assert wait_for(lambda: len(fake.calls) == 1)
    time.sleep(0.4)
    assert (inbox / "a.txt").exists()  # parsed is not enough: only once it is in S3
    fake.states[1] = ItemState.UPLOADED
    assert wait_for(lambda: not (inbox / "a.txt").exists())


def test_a_pass_lists_the_folder_once_however_many_files_it_takes(inbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Siblings come from one listing per folder per pass (listing it for every file taken made intake
    cost grow with the square of the folder's size), and are still every other file name, sorted."""
    names = [f"exam_{n:03d}.xml" for n in range(60)] + ["exam_007.tif"]
    for name in names:
        (inbox / name).write_bytes(name.encode())
    now = [0.0]
    fake = FakeIntake()
    source = FolderSource(FolderSourceConfig(name="inbox", path=inbox, settle_seconds=1), fake, clock=lambda: now[0])
    source.rescan()
    source.check()  # first look at each candidate: its settle clock starts
    listed: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: Any) -> Any:
        listed.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr("edge_agent.sources.folder.os.scandir", counting_scandir)
    now[0] = 5.0
    source.check()  # every file settled: all taken in this pass
    assert len(fake.calls) == len(names)
    assert listed == [str(inbox)]
    for call in fake.calls:
        assert call["siblings"] == tuple(sorted(n for n in names if n != call["name"]))
