"""A restarted folder source does not read again what it took before, unless the file changed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_folder_source import FakeIntake, wait_for

from edge_agent.config import FolderSourceConfig
from edge_agent.sources.folder import FolderSource
from edge_agent.sources.seen import SeenFiles

pytestmark = pytest.mark.integration


def _run(inbox: Path, seen: SeenFiles, until: int) -> FakeIntake:
    """Starts a source on `inbox`, waits for `until` submits (and a quiet moment), stops it."""
    fake = FakeIntake()
    config = FolderSourceConfig(name="inbox", path=inbox, settle_seconds=0.2, rescan_seconds=0.2)
    source = FolderSource(config, fake, seen=seen)
    source.start()
    try:
        assert wait_for(lambda: len(fake.calls) >= until)
        time.sleep(1.0)  # several rescans: nothing more may be taken
    finally:
        source.stop()
    return fake


def test_files_taken_before_a_restart_are_not_read_again(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "P1").mkdir(parents=True)
    (inbox / "P1" / "a.xml").write_bytes(b"one")
    (inbox / "b.txt").write_bytes(b"two")
    seen = SeenFiles(tmp_path / "sources.db")

    assert _run(inbox, seen, until=2).rels() == ["P1/a.xml", "b.txt"]
    assert _run(inbox, seen, until=0).rels() == []  # restart: nothing re-read

    (inbox / "b.txt").write_bytes(b"two, corrected")  # the device rewrote it
    os.utime(inbox / "b.txt", ns=(time.time_ns(), time.time_ns() + 1_000_000))
    (inbox / "P1" / "a.xml").unlink()
    assert _run(inbox, seen, until=1).rels() == ["b.txt"]
    assert sorted(seen.load("inbox")) == ["b.txt"]  # the deleted file is forgotten
    seen.close()


def test_the_memory_is_per_source(tmp_path: Path) -> None:
    seen = SeenFiles(tmp_path / "sources.db")
    seen.mark("a", "x.xml", (3, 1))
    assert seen.load("b") == {}
    assert seen.load("a") == {"x.xml": (3, 1)}
    seen.forget("a", ["x.xml"])
    assert seen.load("a") == {}
    seen.close()
