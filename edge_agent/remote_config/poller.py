"""The remote-configuration poller: every `remote_config_seconds`, fetch what the cloud published for this agent,
check it, and hand a good newer version to the agent to apply; a bad one is refused (logged once, reported in the
heartbeat as `config_error`) and the agent keeps running on what it had.

Versions only move forward: a document older than the one applied (an S3 read that lags a newer publication)
is ignored. What was applied is saved in data_dir (`last_good.py`) only once the agent runs on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from edge_agent.config import AgentConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.identity import Identity
from edge_agent.remote_config.document import Published, Rejected, effective, read
from edge_agent.remote_config.fetch import ConfigFetcher, NotPublished
from edge_agent.remote_config.last_good import LastGood
from shared_models import ConfigRejection

log = logging.getLogger(__name__)

Apply = Callable[[AgentConfig], object]  # runs the agent on a configuration; raises EdgeAgentError when it cannot


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ConfigStatus:
    """What the heartbeat reports: the version the agent runs on (None: the TOML) and the last one refused."""

    def __init__(self, applied: int | None = None) -> None:
        self._lock = threading.Lock()
        self.applied_version = applied
        self.rejection: ConfigRejection | None = None

    def report(self) -> tuple[int | None, ConfigRejection | None]:
        with self._lock:
            return self.applied_version, self.rejection

    def applied(self, version: int) -> None:
        with self._lock:
            self.applied_version, self.rejection = version, None

    def rejected(self, rejection: ConfigRejection) -> None:
        with self._lock:
            self.rejection = rejection


class RemoteConfigPoller:
    def __init__(
        self,
        fetcher: ConfigFetcher,
        last_good: LastGood,
        local: AgentConfig,
        ident: Identity,
        apply: Apply,
        *,
        interval: float,
        status: ConfigStatus,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.fetcher = fetcher
        self.last_good = last_good
        self.local = local  # the TOML: what a published configuration is laid over
        self.ident = ident
        self._apply = apply
        self.interval = interval
        self.status = status
        self._clock = clock
        self._listeners: list[Callable[[], object]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unreachable = False  # the cloud could not be asked: logged once per outage
        self._published = True  # something is published for this agent (logged once when nothing is)

    def on_change(self, listener: Callable[[], object]) -> None:
        """`listener()` after a version was applied or refused (the heartbeat tells the cloud at once)."""
        self._listeners.append(listener)

    def poll_once(self) -> bool:
        """One fetch; True when a version was applied or refused (something to report)."""
        try:
            body = self.fetcher.fetch()
        except NotPublished as exc:
            if self._published:
                log.info("no remote configuration published for this agent", extra={"code": exc.code})
            self._published = False
            return False
        except (ClientError, BotoCoreError, OSError) as exc:
            if not self._unreachable:
                log.warning("remote configuration not reachable; will retry", extra={"error": type(exc).__name__})
            self._unreachable = True
            return False
        self._unreachable, self._published = False, True
        if body is None:
            return False  # 304: nothing changed since the last fetch
        try:
            published = read(body, self.ident)
        except Rejected as exc:
            return self._refuse(exc.version, exc.reason)
        applied, rejection = self.status.report()
        if applied is not None and published.version <= applied:
            if published.version < applied:
                log.info("older remote configuration ignored", extra={"version": published.version, "applied": applied})
            return False
        if rejection is not None and rejection.version == published.version:
            return False  # refused already (the ETag changed, the version did not)
        return self._run(published)

    def _run(self, published: Published) -> bool:
        try:
            self._apply(effective(self.local, published.config))
        except EdgeAgentError as exc:  # a source cannot be built or started: the previous ones run again
            return self._refuse(published.version, str(exc))
        self.status.applied(published.version)
        try:
            self.last_good.save(published)
        except OSError as exc:  # applied, but a restart would start with the previous one: say so
            log.error("remote configuration applied but not saved", extra={"error": type(exc).__name__})
        log.info("remote configuration applied", extra={"version": published.version})
        return True

    def _refuse(self, version: int | None, reason: str) -> bool:
        log.error("remote configuration refused", extra={"version": version, "error": reason[:500]})
        self.status.rejected(ConfigRejection(version=version, error=reason[:1000], at=self._clock()))
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="remote-config", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)  # an apply in progress finishes first (sources stop in order)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                changed = self.poll_once()
            except Exception:  # a bug here must not take the agent down; the next turn tries again
                log.exception("remote configuration poll failed")
                changed = False
            if changed:
                for listener in self._listeners:
                    listener()
            self._stop.wait(self.interval)
