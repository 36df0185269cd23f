"""Heartbeat: every `heartbeat_seconds`, `agents/{clinic}/{agent}/heartbeat.json` with spool counts (no PHI).

Besides the model's fields it carries `last_error_at` (when `last_error` happened; both are gone
once no waiting item fails), `quarantined_total` (quarantined items, uploaded or not),
`pending_items`, and `refusing` (`"spool_full"` while new items are refused, else absent). With remote
configuration it says which published version the agent runs on and the last one it refused
(`config_version`, `config_error`); a change of either is sent at once, not at the next interval, and kept in
the spool's meta for `medflow-edge status`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from edge_agent import __version__
from edge_agent.identity import Identity
from edge_agent.ops.activity import META_KEY, Activity
from edge_agent.ops.status import CONFIG_META_KEY, refusing_reason
from edge_agent.spool import Spool
from edge_agent.spool.uploader import ObjectWriter, describe_error
from shared_models import AgentHeartbeat, ConfigRejection
from shared_models.s3keys import heartbeat_key

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Heartbeat:
    def __init__(
        self,
        spool: Spool,
        writer: ObjectWriter,
        ident: Identity,
        *,
        interval: float,
        sources: list[str] | None = None,
        activity: Activity | None = None,
        config_status: Callable[[], tuple[int | None, ConfigRejection | None]] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.spool = spool
        self.writer = writer
        self.ident = ident
        self.interval = interval
        self.sources = sources or []
        self.activity = activity
        if activity is not None:
            activity.restore(spool.ledger.meta.read().get(META_KEY))
        self.config_status = config_status
        self._clock = clock
        self.started_at = clock()
        self._stop = threading.Event()
        self._soon = threading.Event()  # beat now, not at the next interval
        self._thread: threading.Thread | None = None
        self._beat_listeners: list[Callable[[], object]] = []
        self._turn = interval  # the loop turns this often; a heartbeat goes out every `interval`
        self._every: list[float] = []  # what listeners asked the loop to turn at least this often
        self._config_report: str | None = spool.ledger.meta.read().get(CONFIG_META_KEY)  # as the last run left it

    def on_beat(self, listener: Callable[[], object], *, every: float | None = None) -> None:
        """`listener()` after every turn of the loop (the systemd watchdog: the loop is alive); with
        `every`, the loop turns at least that often, still sending heartbeats only every `interval`."""
        self._beat_listeners.append(listener)
        if every is not None:
            self._every.append(every)
            self._turn = min(self._turn, every)

    def reconfigure(self, *, interval: float, sources: list[str]) -> None:
        """A new configuration applied live: the beat's interval and the sources it names."""
        self._turn = min([interval, *self._every])
        self.interval = interval
        self.sources = list(sources)
        self.beat_soon()

    def beat_soon(self) -> None:
        """Send a heartbeat now (something the cloud should know at once changed)."""
        self._soon.set()

    def build(self) -> AgentHeartbeat:
        """Counts and times only: ids, never a file name, patient id or result."""
        ledger = self.spool.ledger
        if self.activity is not None:
            ledger.meta.set(META_KEY, self.activity.dump())  # survives a restart (one small row)
        meta = ledger.meta.read()
        pending_bytes, pending_items = ledger.items.pending()
        alarm = self.spool.refusing or meta.get("alarm")  # in memory too: a full disk may keep it out of meta
        config_version, config_error = self.config_status() if self.config_status is not None else (None, None)
        self._keep_config_report(config_version, config_error)
        return AgentHeartbeat(
            clinic_id=self.ident.clinic_id,
            agent_id=self.ident.agent_id,
            version=__version__,
            sent_at=self._clock(),
            started_at=self.started_at,
            counts=ledger.items.counts(),
            last_upload_at=_parse_time(meta.get("last_upload_at")),
            last_error=meta.get("last_error"),
            last_error_at=_parse_time(meta.get("last_error_at")),  # an extra field: the model allows them
            quarantined_total=ledger.quarantine.count(),
            pending_bytes=pending_bytes,
            pending_items=pending_items,  # extra fields, like last_error_at
            refusing=refusing_reason(alarm),  # "spool_full" while new items are refused
            failing=ledger.items.failing(),
            alarm=alarm,
            sources=self.sources,
            interval_seconds=max(1, round(self.interval)),
            devices=self.activity.report() if self.activity is not None else [],
            oldest_pending_at=ledger.items.oldest_pending_at(),
            errors_by_kind=ledger.quarantine.by_reason(),
            config_version=config_version,
            config_error=config_error,
        )

    def _keep_config_report(self, version: int | None, error: ConfigRejection | None) -> None:
        """What this heartbeat says of remote configuration, kept in the spool's meta for `medflow-edge status`
        (another process); written when it changes, and removed when remote configuration is off."""
        report = None
        if self.config_status is not None:
            error_json = error.model_dump(mode="json") if error is not None else None
            report = json.dumps({"config_version": version, "config_error": error_json}, sort_keys=True)
        if report != self._config_report:
            self.spool.ledger.meta.set(CONFIG_META_KEY, report)
            self._config_report = report

    def send_once(self) -> bool:
        beat = self.build()
        key = self.ident.prefix + heartbeat_key(self.ident.clinic_id, self.ident.agent_id)
        body = beat.model_dump_json(by_alias=True, exclude_none=True).encode()
        try:
            self.writer.put(key, body, "application/json")
        except (ClientError, BotoCoreError, OSError) as exc:
            log.warning("heartbeat failed", extra={"error": describe_error(exc)[0]})
            return False
        log.debug("heartbeat sent", extra={"counts": beat.counts})
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._soon.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= due or self._soon.is_set():
                self._soon.clear()
                due = time.monotonic() + self.interval
                try:
                    self.send_once()
                except Exception:  # a heartbeat bug must not take the agent down; the next beat retries
                    log.exception("heartbeat step failed")
            for listener in self._beat_listeners:
                listener()
            self._soon.wait(min(self._turn, max(due - time.monotonic(), 0.01)))
