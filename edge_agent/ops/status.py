"""The spool's status (counts per state, last upload, last error, remote configuration), read beside a running agent:
`status`, health."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edge_agent.errors import EdgeAgentError
from edge_agent.sources.seen import read_statuses
from edge_agent.spool import DB_NAME, Ledger

CONFIG_META_KEY = "remote_config"  # the heartbeat's config_version / config_error, kept for `status`


@dataclass(frozen=True)
class StatusReport:
    spool: str
    counts: dict[str, int]
    pending_bytes: int
    failing: int
    last_upload_at: str | None
    last_error: str | None
    alarm: str | None
    quarantined_total: int = 0  # quarantined items waiting or uploaded (`counts` has them by state)
    last_error_at: str | None = None
    sources: dict[str, dict[str, str]] = field(default_factory=dict)  # a source's state, when it reports one (smb)
    pending_items: int = 0  # items not yet uploaded (what `max_spool_items` limits)
    remote_config: bool = False  # the agent polls a published configuration (what the heartbeat last said)
    config_version: int | None = None  # the published version applied (None: the TOML's sources)
    config_error: dict[str, object] | None = None  # the last version refused: {"version", "error", "at"}

    @property
    def refusing(self) -> str | None:
        return refusing_reason(self.alarm)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "refusing": self.refusing}, sort_keys=True)

    def _config_text(self) -> str:
        applied = f"version {self.config_version}" if self.config_version is not None else "none applied (the TOML)"
        if not self.config_error:
            return applied
        refused = self.config_error.get("version")
        what = f"version {refused}" if refused is not None else "an unreadable publication"
        return f"{applied}; {what} refused at {self.config_error.get('at')}: {self.config_error.get('error')}"

    def to_text(self) -> str:
        lines = [f"spool           {self.spool}"]
        for state, count in self.counts.items():
            if state == "quarantined":  # once uploaded they count as uploaded; replay still finds them all
                lines.append(f"  {state:<14}{count} waiting for upload, {self.quarantined_total} in all")
            else:
                lines.append(f"  {state:<14}{count}")
        lines += [
            f"waiting bytes   {self.pending_bytes}",
            f"waiting items   {self.pending_items}",
            f"failing items   {self.failing}",
            f"last upload     {self.last_upload_at or 'never'}",
            f"last error      {self.last_error or 'none'}",
        ]
        if self.alarm:
            lines.append(f"ALARM           {self.alarm}")
        for name, reported in self.sources.items():
            detail = f": {reported['detail']}" if reported["status"] != "ok" else ""
            lines.append(f"{'source ' + name:<15} {reported['status']} since {reported['since']}{detail}")
        if self.remote_config:
            lines.append(f"remote config   {self._config_text()}")
        if self.refusing:
            lines.append(f"intake          refusing new items ({self.refusing}); sources keep them and retry")
        return "\n".join(lines)


def _config_report(meta: dict[str, str]) -> tuple[bool, int | None, dict[str, object] | None]:
    """The heartbeat's last word on remote configuration (edge_agent/ops/heartbeat.py): on, version, refusal."""
    kept = meta.get(CONFIG_META_KEY)
    if kept is None:
        return False, None, None
    report = json.loads(kept)
    return True, report.get("config_version"), report.get("config_error")


def refusing_reason(alarm: str | None) -> str | None:
    """`spool_full` while the spool refuses new items (a cap reached or the disk full), else None."""
    return "spool_full" if alarm and alarm.startswith("spool_full") else None


def snapshot(ledger: Ledger, spool: str) -> StatusReport:
    """The report from an open ledger (the running agent's own, for /healthz; or a read-only one)."""
    meta = ledger.meta.read()
    pending = ledger.items.pending()
    remote_config, config_version, config_error = _config_report(meta)
    return StatusReport(
        spool=spool,
        counts=ledger.items.counts(),
        pending_bytes=pending[0],
        pending_items=pending[1],
        failing=ledger.items.failing(),
        last_upload_at=meta.get("last_upload_at"),
        last_error=meta.get("last_error"),
        alarm=meta.get("alarm"),
        quarantined_total=ledger.quarantine.count(),
        last_error_at=meta.get("last_error_at"),
        remote_config=remote_config,
        config_version=config_version,
        config_error=config_error,
    )


def read_status(data_dir: Path) -> StatusReport:
    """Opens the ledger read-only; raises EdgeAgentError when there is no spool there yet."""
    path = data_dir / DB_NAME
    if not path.is_file():
        raise EdgeAgentError(f"no spool at {path} (has the agent run with this data_dir?)")
    try:
        ledger = Ledger(path, readonly=True)
        try:
            return replace(snapshot(ledger, str(path)), sources=read_statuses(data_dir / "sources.db"))
        finally:
            ledger.close()
    except sqlite3.Error as exc:
        raise EdgeAgentError(f"cannot read the spool at {path}: {exc}") from exc
