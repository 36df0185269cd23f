"""The spool's status (counts per state, last upload, last error), read beside a running agent: `status`, health."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edge_agent.errors import EdgeAgentError
from edge_agent.sources.seen import read_statuses
from edge_agent.spool import DB_NAME, Ledger


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

    @property
    def refusing(self) -> str | None:
        return refusing_reason(self.alarm)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "refusing": self.refusing}, sort_keys=True)

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
        if self.refusing:
            lines.append(f"intake          refusing new items ({self.refusing}); sources keep them and retry")
        return "\n".join(lines)


def refusing_reason(alarm: str | None) -> str | None:
    """`spool_full` while the spool refuses new items (a cap reached or the disk full), else None."""
    return "spool_full" if alarm and alarm.startswith("spool_full") else None


def snapshot(ledger: Ledger, spool: str) -> StatusReport:
    """The report from an open ledger (the running agent's own, for /healthz; or a read-only one)."""
    meta = ledger.meta.read()
    pending = ledger.items.pending()
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
