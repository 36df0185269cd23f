"""The ledger's agent facts (table meta): last upload, last error and its time, the spool-full alarm."""

from __future__ import annotations

from datetime import datetime

from edge_agent.spool.connection import LedgerConnection


class Meta:
    def __init__(self, connection: LedgerConnection) -> None:
        self._c = connection

    def error(self, text: str, at: datetime) -> None:
        """Records the agent's last error and its time (cleared by `Outbox.item_uploaded` once nothing fails)."""
        stamp = at.isoformat(timespec="seconds")
        with self._c.tx() as db:
            # Both facts in one transaction: status and the heartbeat never show a text with another's time.
            db.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                [("last_error", f"{stamp} {text}"), ("last_error_at", stamp)],
            )

    def set(self, name: str, value: str | None) -> None:
        with self._c.tx() as db:
            if value is None:
                # Clearing a flag (e.g. the spool-full alarm once space is back).
                db.execute("DELETE FROM meta WHERE name = ?", (name,))
            else:
                # Last-writer-wins agent facts: last error, alarms.
                db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))
            if name == "alarm":
                self._c.alarm = value is not None

    def read(self) -> dict[str, str]:
        # A handful of rows; read whole.
        return {r[0]: r[1] for r in self._c.query("SELECT name, value FROM meta")}

    def has_alarm(self) -> bool:
        """Whether the spool-full alarm is raised; every commit asks, so kept in memory once read
        (this agent is the ledger's only writer, and `set` keeps it up to date)."""
        with self._c.lock:
            if self._c.alarm is None or self._c.readonly:
                self._c.alarm = "alarm" in self.read()
            return self._c.alarm
