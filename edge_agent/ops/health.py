"""Local health endpoint of the running agent: `GET /healthz` (JSON; 503 on alarm) and `GET /metrics` (Prometheus).

`Counters` listens to the intake (`on_taken`) and the uploader (`on_put`, `on_uploaded`).
Standard library only (http.server in a thread). Bound to 127.0.0.1 unless `health_host` says
otherwise; it serves counts, times and ids, never a file name, patient id or result.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edge_agent import __version__
from edge_agent.errors import ConfigError
from edge_agent.intake.intake import Taken
from edge_agent.ops.status import StatusReport, refusing_reason, snapshot
from edge_agent.sources.seen import read_statuses
from edge_agent.spool import Ledger

log = logging.getLogger(__name__)


class Counters:
    """What happened since the agent started (Prometheus counters; a restart resets them, as it expects)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: Counter[str] = Counter()  # objects_put, put_failures, bytes_put, items_uploaded
        self.taken: Counter[tuple[str, str]] = Counter()  # (source name, parsed | quarantined | duplicate)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.values[name] += amount

    def item_uploaded(self, item_id: int) -> None:
        """The `Uploader.on_uploaded` listener."""
        self.add("items_uploaded")

    def object_put(self, size: int, ok: bool) -> None:
        """The `Uploader.on_put` listener: puts, failed puts and bytes put."""
        with self._lock:
            if ok:
                self.values["objects_put"] += 1
                self.values["bytes_put"] += size
            else:
                self.values["put_failures"] += 1

    def inputs_taken(self, taken: Sequence[Taken]) -> None:
        """The `Intake.on_taken` listener: inputs per source and outcome."""
        with self._lock:
            for t in taken:
                r = t.result
                outcome = "duplicate" if r.duplicate else "quarantined" if r.quarantined else "parsed"
                self.taken[(t.source, outcome)] += 1

    def copy(self) -> tuple[Counter[str], Counter[tuple[str, str]]]:
        with self._lock:
            return Counter(self.values), Counter(self.taken)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HealthServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # the name http.server dispatches to
        path = self.path.split("?", 1)[0]
        try:
            if path == "/healthz":
                code, body = self.server.owner.health()
                self._send(code, "application/json", json.dumps(body, sort_keys=True).encode())
            elif path == "/metrics":
                self._send(200, "text/plain; version=0.0.4; charset=utf-8", self.server.owner.metrics().encode())
            else:
                self._send(404, "application/json", b'{"error": "not_found"}')
        except sqlite3.Error as exc:  # the spool cannot be read: unhealthy, and said so
            log.error("health endpoint cannot read the spool", extra={"error": f"{type(exc).__name__}: {exc}"})
            self._send(503, "application/json", json.dumps({"status": "error", "error": "spool unreadable"}).encode())

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        log.debug("health request", extra={"request": format % args})


class HealthServer:
    """Listens from construction (so a taken port is a start-up error); serves once `start()`ed."""

    def __init__(
        self,
        spool_db: Path,
        counters: Counters,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        alarm_after: int = 10,
        clock: Callable[[], float] = time.monotonic,
        refusing: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.counters = counters
        # The running spool's own spool-full alarm (`Spool.refusing`): known even when a full disk
        # kept it out of the ledger this endpoint reads.
        self._refusing = refusing
        self.alarm_after = alarm_after
        self._clock = clock
        self._started = clock()
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            raise ConfigError(f"agent.health_port: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self._server.owner = self
        self._thread: threading.Thread | None = None
        # Its own read-only connection: under WAL a scrape never waits for, or holds up, an intake commit.
        self._ledger = Ledger(spool_db, readonly=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.5,), name="health", daemon=True)
        self._thread.start()
        log.info("health endpoint listening", extra={"port": self.port})

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()
        self._ledger.close()

    def _report(self) -> tuple[StatusReport, str | None]:
        """The spool's status and the alarm that makes the agent unhealthy, if any."""
        report = snapshot(self._ledger, str(self._ledger.path))
        alarm = self._refusing() or report.alarm
        if alarm:  # spool full (a cap, or the disk): new items are being refused
            return report, alarm
        stuck = self._ledger.items.failing(min_attempts=self.alarm_after)
        if stuck:
            return report, f"upload_failing: {stuck} item(s) failed {self.alarm_after} or more times"
        return report, None

    def health(self) -> tuple[int, dict[str, object]]:
        report, alarm = self._report()
        body: dict[str, object] = {
            "status": "alarm" if alarm else "ok",
            "version": __version__,
            "uptime_s": round(self._clock() - self._started, 3),
            "counts": report.counts,
            "pending_bytes": report.pending_bytes,
            "pending_items": report.pending_items,
            "refusing": refusing_reason(alarm),
            "failing": report.failing,
            "last_upload_at": report.last_upload_at,
            "last_error": report.last_error,
            "alarm": alarm,
        }
        sources = read_statuses(self._ledger.path.parent / "sources.db")  # e.g. an smb share's auth_failed
        if sources:
            body["sources"] = sources
        return (503 if alarm else 200), body

    def metrics(self) -> str:
        report, alarm = self._report()
        values, taken = self.counters.copy()
        last = datetime.fromisoformat(report.last_upload_at).timestamp() if report.last_upload_at else 0.0
        out = _Exposition()
        out.metric("medflow_edge_info", "gauge", "Agent version.", [({"version": __version__}, 1)])
        out.metric("medflow_edge_uptime_seconds", "gauge", "Seconds since the agent started.",
                   [({}, self._clock() - self._started)])  # fmt: skip
        out.metric("medflow_edge_spool_items", "gauge", "Spool items per state.",
                   [({"state": s}, n) for s, n in report.counts.items()])  # fmt: skip
        out.metric("medflow_edge_spool_pending_bytes", "gauge", "Raw bytes waiting for upload.",
                   [({}, report.pending_bytes)])  # fmt: skip
        out.metric("medflow_edge_upload_failing_items", "gauge", "Items waiting that failed at least once.",
                   [({}, report.failing)])  # fmt: skip
        out.metric("medflow_edge_alarm", "gauge", "1 when /healthz answers 503.", [({}, 1 if alarm else 0)])
        out.metric("medflow_edge_last_upload_timestamp_seconds", "gauge", "Unix time of the last upload (0: never).",
                   [({}, last)])  # fmt: skip
        out.metric("medflow_edge_uploads_total", "counter", "Objects put to S3.", [({}, values["objects_put"])])
        out.metric("medflow_edge_upload_failures_total", "counter", "Failed object puts.",
                   [({}, values["put_failures"])])  # fmt: skip
        out.metric("medflow_edge_uploaded_bytes_total", "counter", "Bytes put to S3.", [({}, values["bytes_put"])])
        out.metric("medflow_edge_items_uploaded_total", "counter", "Items with every object in S3.",
                   [({}, values["items_uploaded"])])  # fmt: skip
        out.metric("medflow_edge_source_items_total", "counter", "Inputs taken per source and outcome.",
                   [({"source": s, "outcome": o}, n) for (s, o), n in sorted(taken.items())])  # fmt: skip
        return out.text()


class _Exposition:
    """Prometheus text exposition format 0.0.4: HELP, TYPE, then one sample per line."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        self._lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self._lines.append(f"{name}{{{label_text}}} {_number(value)}" if labels else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _number(value: float) -> str:
    """Integers exactly (byte counts exceed a float's short form), other values as Python's shortest repr."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
