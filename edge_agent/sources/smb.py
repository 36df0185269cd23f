"""SMB share source: CHANGE_NOTIFY plus a periodic listing of a folder on an SMB2/3 share; files taken once settled.

The same rules as the folder source (edge_agent.sources.settle): a file seen is a candidate, read
when its size and mtime held still for `settle_seconds` and an exclusive open succeeds (no other
client still writing it), read in one pass while hashing, checked again after the read, then
submitted through the one intake port. Nothing on the share is ever written, renamed or deleted.

What was taken is remembered across restarts (`SeenFiles`: path, size, mtime), so after a reboot
the listing alone decides: no request per already-taken file. When the server goes away, the
password is rejected or the share disappears, the source reports a status word (`status`), logs
it once, and reconnects with exponential backoff; candidates wait and are read after reconnecting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import quote

from smbprotocol.exceptions import SMBException

from edge_agent.config import SmbSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.intake.port import IntakePort, Origin
from edge_agent.sources.seen import SeenFiles
from edge_agent.sources.settle import Candidate, Signature, file_ref
from edge_agent.sources.smb_share import FileBusy, ShareError, SmbShare, classify

log = logging.getLogger(__name__)

_MAX_SIBLINGS = 1000


class SmbSource:
    kind = "smb"

    def __init__(
        self,
        config: SmbSourceConfig,
        intake: IntakePort,
        *,
        clock: Callable[[], float] = time.monotonic,
        seen: SeenFiles | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.intake = intake
        self.share = SmbShare(config, environ=environ)
        self._seen = seen
        self._clock = clock
        self._lock = threading.Lock()
        self._candidates: dict[str, Candidate] = {}
        self._taken: dict[str, Signature] = {}
        self._listing: dict[str, Signature] = {}  # the last listing: signatures and siblings without a request
        self._stop = threading.Event()
        self._rescan_now = threading.Event()
        self._connected = False
        self._failures = 0
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._watch_stop = threading.Event()
        self._tick = min(0.5, config.settle_seconds / 4)
        self.status = "starting"  # ok | auth_failed | share_missing | unreachable | encryption_unavailable | ...
        self.status_detail = ""
        self.notify = False  # whether CHANGE_NOTIFY is active now
        self.taken_count = 0
        self.connections = 0  # sessions set up so far (reconnects show here)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._seen is not None:
            with self._lock:
                self._taken.update(self._seen.load(self.config.name))
        self._thread = threading.Thread(target=self._run, name=f"smb:{self.config.name}", daemon=True)
        self._thread.start()
        log.info("smb source started", extra={"source": self.config.name, "server": self.config.server})

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        self._disconnect()
        log.info("smb source stopped", extra={"source": self.config.name})

    # --- connection -----------------------------------------------------------------------------

    def _set_status(self, status: str, detail: str = "") -> None:
        if status == self.status and detail == self.status_detail:
            return
        self.status, self.status_detail = status, detail
        if self._seen is not None:
            self._seen.set_status(self.config.name, status, detail)
        extra = {"source": self.config.name, "status": status, "detail": detail}
        if status == "ok":
            log.info("smb source connected", extra=extra)
        else:
            log.warning("smb source cannot use the share; will retry", extra=extra)

    def _connect(self) -> bool:
        try:
            self.share.connect()
        except ShareError as exc:
            self._set_status(exc.status, str(exc))
            return False
        self._connected, self._failures = True, 0
        self.connections += 1
        self._set_status("ok", "encrypted" if self.share.encrypted else "signed")
        self._watch_stop.clear()
        self._watcher = threading.Thread(target=self._watch, name=f"smb-notify:{self.config.name}", daemon=True)
        self._watcher.start()
        self._rescan_now.set()
        return True

    def _disconnect(self) -> None:
        self._watch_stop.set()
        self._connected = False
        self.share.close()  # also ends a pending CHANGE_NOTIFY
        if self._watcher is not None:
            self._watcher.join(5)
            self._watcher = None
        self.notify = False

    def _backoff(self) -> float:
        self._failures += 1
        return float(min(self.config.reconnect_max_seconds, 0.5 * 2 ** min(self._failures, 16)))

    def _watch(self) -> None:
        """CHANGE_NOTIFY (recursive): each answer asks for a listing soon. Without it the periodic listing remains."""
        self.notify = True
        try:
            self.share.watch(self._rescan_now.set, self._watch_stop)
        except (SMBException, OSError, ValueError) as exc:  # not supported, or the connection went away
            if not self._watch_stop.is_set():
                extra = {"source": self.config.name, "error": classify(exc, self.config).status}
                log.info("smb change notify unavailable; relying on the periodic listing", extra=extra)
        finally:
            self.notify = False

    # --- the loop -------------------------------------------------------------------------------

    def _run(self) -> None:
        next_rescan = 0.0
        while not self._stop.is_set():
            if not self._connected and not self._connect():
                self._stop.wait(self._backoff())
                continue
            try:
                now = self._clock()
                if self._rescan_now.is_set() or now >= next_rescan:
                    self._rescan_now.clear()
                    self.rescan()
                    next_rescan = now + self.config.rescan_seconds
                self.check()
            except Exception as exc:  # the share went away mid-way: reconnect; candidates wait
                error = classify(exc, self.config)
                if error.status == "error":
                    log.exception("smb source step failed", extra={"source": self.config.name})
                self._disconnect()
                self._set_status(error.status, str(error))
                self._stop.wait(self._backoff())
                continue
            self._stop.wait(self._tick)

    def rescan(self) -> None:
        """The listing: every file not taken with its current signature becomes a candidate."""
        listing = {e.relative: e.signature for e in self.share.list()}
        now = self._clock()
        with self._lock:
            self._listing = listing
            for rel, sig in listing.items():
                if rel not in self._candidates and self._taken.get(rel) != sig:
                    self._candidates[rel] = Candidate(signature=sig, stable_since=now)
            gone = [rel for rel in self._taken if rel not in listing]
            for rel in gone:
                del self._taken[rel]
        if self._seen is not None:
            self._seen.forget(self.config.name, gone)

    def check(self) -> None:
        """Takes every candidate whose size and mtime held still for settle_seconds."""
        with self._lock:
            items = list(self._candidates.items())
        for rel, cand in items:
            now = self._clock()
            if self._stop.is_set() or now < cand.retry_at:
                continue
            sig = self.share.stat(rel)
            if sig is None:  # gone before it settled
                self._drop(rel)
            elif cand.observe(sig, now, self.config.settle_seconds):
                with self._lock:
                    unchanged = self._taken.get(rel) == sig
                if unchanged:
                    self._drop(rel)
                else:
                    self._take(rel, cand)

    def _drop(self, rel: str) -> None:
        with self._lock:
            self._candidates.pop(rel, None)

    def _take(self, rel: str, cand: Candidate) -> None:
        try:
            data, sha256 = self.share.read(rel)
        except FileBusy:  # another client still has it open for writing
            cand.restart(None, self._clock())
            return
        after = self.share.stat(rel)
        if after is None or after != cand.signature or len(data) != after[0]:
            cand.restart(after, self._clock())  # changed while read: settle again
            return
        name = rel.rsplit("/", 1)[-1]
        try:
            origin = Origin(name, self.kind, self._uri(rel), rel, self.config.device_id,
                            self.config.patient_id_patterns, source=self.config.name)  # fmt: skip
            result = self.intake.submit(data, origin, siblings=self._siblings(rel))
        except ShareError:
            raise
        except EdgeAgentError as exc:  # spool full or unwritable: the file stays on the share and is offered again
            delay = cand.retry_later(self._clock(), self.config.settle_seconds)
            extra: dict[str, object] = {"source": self.config.name, "file_ref": file_ref(rel), "retry_in": delay}
            log.warning("spool refused file; will retry", extra={**extra, "error": type(exc).__name__})
            return
        with self._lock:
            self._candidates.pop(rel, None)
            self._taken[rel] = after
            self.taken_count += 1
        if self._seen is not None:
            self._seen.mark(self.config.name, rel, after)
        taken: dict[str, object] = {"source": self.config.name, "file_ref": file_ref(rel), "item_id": result.item_id}
        log.info("file taken", extra={**taken, "duplicate": result.duplicate, "sha256": sha256[:12]})

    def _uri(self, rel: str) -> str:
        parts = [self.config.share, *([self.config.path] if self.config.path else []), rel]
        return f"smb://{self.config.server}:{self.config.port}/" + quote("/".join(parts))

    def _siblings(self, rel: str) -> list[str]:
        """Other file names in the same folder, from the last listing (no request)."""
        folder = rel.rpartition("/")[0]
        with self._lock:
            names = [o.rpartition("/")[2] for o in self._listing if o != rel and o.rpartition("/")[0] == folder]
        return sorted(names)[:_MAX_SIBLINGS]
