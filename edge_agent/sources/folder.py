"""Folder source: watchdog (inotify) events plus a periodic full rescan; a file is taken once settled.

Devices and export tools write files in pieces, so an event only makes a file a candidate: it is
read when its size and mtime have not changed for `settle_seconds` (and re-checked after the read).
Originals are never modified; they are deleted only with `delete_after_upload`, once in S3.
"""

from __future__ import annotations

import bisect
import fnmatch
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from edge_agent.config import FolderSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.intake.port import Input, IntakePort, IntakeResult, ItemState, Origin
from edge_agent.sources.seen import SeenFiles
from edge_agent.sources.settle import Candidate as _Candidate
from edge_agent.sources.settle import Signature
from edge_agent.sources.settle import file_ref as _ref

log = logging.getLogger(__name__)


class _Events(FileSystemEventHandler):
    def __init__(self, source: FolderSource) -> None:
        self.source = source

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in {"opened", "closed_no_write", "deleted"}:
            return
        if event.is_directory:
            # A folder moved in brings files without per-file events: look everywhere soon.
            if event.event_type in {"created", "moved"}:
                self.source.request_rescan()
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                self.source.note(Path(os.fsdecode(raw)))


class FolderSource:
    kind = "folder"

    def __init__(
        self,
        config: FolderSourceConfig,
        intake: IntakePort,
        *,
        clock: Callable[[], float] = time.monotonic,
        seen: SeenFiles | None = None,
    ) -> None:
        self.config = config
        self._seen = seen  # files taken before a restart are not read again while unchanged
        self.intake = intake
        self.root = config.path
        self._clock = clock
        self._lock = threading.Lock()
        self._candidates: dict[Path, _Candidate] = {}
        self._taken: dict[Path, Signature] = {}  # files already submitted, with the signature they had
        self._pending_delete: dict[int, tuple[Path, Signature]] = {}
        self._stop = threading.Event()
        self._rescan_now = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: BaseObserver | None = None
        self._tick = min(0.5, config.settle_seconds / 4)
        self.rescans = 0  # full scans done (the first one's end is logged: "folder scanned")

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._seen is not None:
            with self._lock:
                for rel, sig in self._seen.load(self.config.name).items():
                    self._taken[self.root / rel] = sig
        self._watch()
        self._rescan_now.set()  # files already there when the agent starts
        self._thread = threading.Thread(target=self._run, name=f"folder:{self.config.name}", daemon=True)
        self._thread.start()
        log.info("folder source started", extra={"source": self.config.name, "watching": self._observer is not None})

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        log.info("folder source stopped", extra={"source": self.config.name})

    def _watch(self) -> None:
        """Starts inotify watching; without it (missing folder, watch limit) the rescans still find files."""
        if self._observer is not None or not self.root.is_dir():
            return
        observer = Observer()
        try:
            observer.schedule(_Events(self), str(self.root), recursive=self.config.recursive)
            observer.start()
        except OSError as exc:
            extra = {"source": self.config.name, "error": type(exc).__name__}
            log.warning("folder watch unavailable; relying on rescans", extra=extra)
            return
        self._observer = observer

    # --- discovery ------------------------------------------------------------------------------

    def request_rescan(self) -> None:
        self._rescan_now.set()

    def relative(self, path: Path) -> str | None:
        """The path below the root, '/'-separated; None when outside the root or filtered out."""
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return None
        parts = rel.parts
        if not parts or (not self.config.recursive and len(parts) > 1):
            return None
        if any(fnmatch.fnmatchcase(part, pat) for part in parts for pat in self.config.exclude):
            return None
        posix = rel.as_posix()
        if not any(fnmatch.fnmatchcase(parts[-1], p) or fnmatch.fnmatchcase(posix, p) for p in self.config.include):
            return None
        return posix

    def note(self, path: Path) -> None:
        """An event or rescan saw `path`: (re)start its settle clock."""
        if self.relative(path) is None:
            return
        with self._lock:
            self._candidates[path] = _Candidate(signature=None, stable_since=self._clock())

    def _walk(self) -> Iterator[Path]:
        if not self.config.recursive:
            with os.scandir(self.root) as entries:
                yield from (Path(e.path) for e in entries if e.is_file(follow_symlinks=False))
            return
        for folder, dirs, files in os.walk(self.root, onerror=lambda exc: None):
            dirs[:] = [d for d in dirs if not any(fnmatch.fnmatchcase(d, p) for p in self.config.exclude)]
            yield from (Path(folder) / f for f in files)

    def rescan(self) -> None:
        """The safety net: every file not yet taken with its current signature becomes a candidate."""
        if not self.root.is_dir():
            log.warning("watched folder is missing; will retry", extra={"source": self.config.name})
            return
        self._watch()
        seen: set[Path] = set()
        new = 0
        for path in self._walk():
            seen.add(path)
            sig = _signature(path)
            with self._lock:
                known = path in self._candidates or (sig is not None and self._taken.get(path) == sig)
            if not known:
                self.note(path)
                new += 1
        with self._lock:  # forget files that are gone, so the memory stays bounded
            gone = [p for p in self._taken if p not in seen]
            for path in gone:
                del self._taken[path]
        if self._seen is not None:
            self._seen.forget(self.config.name, [p.relative_to(self.root).as_posix() for p in gone])
        self.rescans += 1
        if self.rescans == 1:  # what the folder held at start, and how much of it is new
            log.info("folder scanned", extra={"source": self.config.name, "files": len(seen), "new": new})

    # --- settling and taking --------------------------------------------------------------------

    def _run(self) -> None:
        next_rescan = 0.0
        while not self._stop.is_set():
            now = self._clock()
            if self._rescan_now.is_set() or now >= next_rescan:
                self._rescan_now.clear()
                self._guard(self.rescan)
                next_rescan = now + self.config.rescan_seconds
            self._guard(self.check)
            if self.config.delete_after_upload:
                self._guard(self._delete_uploaded)
            self._stop.wait(self._tick)

    def _guard(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception:  # one bad file or folder must never stop the source
            log.exception("folder source step failed", extra={"source": self.config.name})

    def check(self) -> None:
        """Takes every candidate whose size and mtime held still for settle_seconds."""
        now = self._clock()
        with self._lock:
            items = list(self._candidates.items())
        settled: list[tuple[Path, _Candidate]] = []
        for path, cand in items:
            if self._stop.is_set() or now < cand.retry_at:
                continue
            sig = _signature(path)
            if sig is None:  # gone (moved away or deleted before it settled)
                self._drop(path)
            elif cand.observe(sig, now, self.config.settle_seconds):
                with self._lock:
                    unchanged = self._taken.get(path) == sig  # e.g. an attribute change: same bytes
                if unchanged:
                    self._drop(path)
                else:
                    settled.append((path, cand))
        listings = _Listings()  # each folder listed once per pass, not once per file taken
        for batch in _batches(settled):
            if self._stop.is_set():
                break
            self._take(batch, listings)

    def _drop(self, path: Path) -> None:
        with self._lock:
            self._candidates.pop(path, None)

    def _take(self, batch: list[tuple[Path, _Candidate]], listings: _Listings | None = None) -> None:
        """Reads the settled files and hands them over together (one durable commit for them all)."""
        listings = listings or _Listings()
        read: list[tuple[Path, _Candidate, str, Input]] = []
        for path, cand in batch:
            rel = self.relative(path) or path.name
            data = self._read(path, cand, rel)
            if data is None:
                continue
            origin = Origin(
                path.name,
                self.kind,
                path.as_uri(),
                rel,
                self.config.device_id,
                self.config.patient_id_patterns,
                source=self.config.name,
            )
            read.append((path, cand, rel, Input(data, origin, listings.siblings(path))))
        if not read:
            return
        results = self.intake.submit_many([entry for *_, entry in read])
        for (path, cand, rel, _), result in zip(read, results, strict=True):
            if isinstance(result, EdgeAgentError):  # spool full or unwritable: the file stays, offered again
                self._retry(cand, "spool refused file", rel, result)
            else:
                self._taken_now(path, cand, rel, result)

    def _read(self, path: Path, cand: _Candidate, rel: str) -> bytes | None:
        """The file's bytes once they still match the settled signature; None when it cannot be taken now."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self._drop(path)
            return None
        except OSError as exc:  # locked by the device software, permissions: retry later
            self._retry(cand, "read failed", rel, exc)
            return None
        if _signature(path) != cand.signature or len(data) != (cand.signature or (0, 0))[0]:
            cand.signature, cand.stable_since = _signature(path), self._clock()  # changed while read
            return None
        return data

    def _taken_now(self, path: Path, cand: _Candidate, rel: str, result: IntakeResult) -> None:
        with self._lock:
            self._candidates.pop(path, None)
            assert cand.signature is not None
            self._taken[path] = cand.signature
            if self.config.delete_after_upload:
                self._pending_delete[result.item_id] = (path, cand.signature)
        if self._seen is not None:
            self._seen.mark(self.config.name, rel, cand.signature)
        log.info(
            "file taken",
            extra={
                "source": self.config.name,
                "file_ref": _ref(rel),
                "item_id": result.item_id,
                "duplicate": result.duplicate,
            },
        )

    def _retry(self, cand: _Candidate, what: str, rel: str, exc: Exception) -> None:
        delay = cand.retry_later(self._clock(), self.config.settle_seconds)
        log.warning(
            f"{what}; will retry",
            extra={"source": self.config.name, "file_ref": _ref(rel), "error": type(exc).__name__, "retry_in": delay},
        )

    def _delete_uploaded(self) -> None:
        """delete_after_upload: remove an original once S3 has it, and only if it did not change since."""
        with self._lock:
            pending = list(self._pending_delete.items())
        for item_id, (path, sig) in pending:
            if self.intake.state(item_id) != ItemState.UPLOADED:
                continue
            with self._lock:
                self._pending_delete.pop(item_id, None)
            if _signature(path) == sig:
                try:
                    path.unlink()
                except OSError as exc:
                    log.warning("delete after upload failed", extra={"item_id": item_id, "error": type(exc).__name__})
                    continue
                log.info("original deleted after upload", extra={"source": self.config.name, "item_id": item_id})


_MAX_SIBLINGS = 1000  # bounds the cost on folders holding years of exports
# One pass hands settled files over in batches of at most this many files and bytes: one durable commit
# each (not one per file), while a folder of big scans is never held in memory at once.
BATCH_FILES = 64
BATCH_BYTES = 16 * 1024 * 1024


def _batches(settled: list[tuple[Path, _Candidate]]) -> Iterator[list[tuple[Path, _Candidate]]]:
    batch: list[tuple[Path, _Candidate]] = []
    size = 0
    for path, cand in settled:
        length = (cand.signature or (0, 0))[0]
        if batch and (len(batch) >= BATCH_FILES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((path, cand))
        size += length
    if batch:
        yield batch


class _Listings:
    """Other file names beside a file, from one listing per folder per pass: an adapter pairs e.g. a
    printout TIFF with its XML. Listing (and sorting) the folder for every file taken made a pass cost
    grow with the square of the folder's size; files arriving during the pass are not settled anyway."""

    def __init__(self) -> None:
        self._names: dict[Path, list[str]] = {}
        self.listed = 0  # folders listed (tests count them)

    def siblings(self, path: Path) -> list[str]:
        names = self._names.get(path.parent)
        if names is None:
            names = self._names[path.parent] = self._list(path.parent)
        # The first names in sorted order, the file itself left out.
        at = bisect.bisect_left(names, path.name)
        if at < len(names) and names[at] == path.name and at <= _MAX_SIBLINGS:
            return names[:at] + names[at + 1 : _MAX_SIBLINGS + 1]
        return names[:_MAX_SIBLINGS]

    def _list(self, folder: Path) -> list[str]:
        self.listed += 1
        try:
            with os.scandir(folder) as entries:
                return sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
        except OSError:
            return []


def _signature(path: Path) -> Signature | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)
