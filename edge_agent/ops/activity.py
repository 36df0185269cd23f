"""Per source and device: when it last handed the agent something (fleet health, docs/edge_agent.md).

Listens to `Intake.on_taken` (duplicates count: a resend is the device speaking). Kept in memory and
saved in the spool's meta table at each heartbeat, so a restart does not forget a device that was
silent before it; the heartbeat reports every configured source, including those never heard from.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from edge_agent.intake.intake import Taken
from shared_models import DeviceActivity

META_KEY = "activity"


@dataclass(frozen=True)
class Expected:
    """A configured source: its name, kind and, if set, how often it is expected to speak."""

    name: str
    kind: str
    expect_every_minutes: int | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Activity:
    def __init__(self, sources: Sequence[Expected], clock: Callable[[], datetime] = _utcnow) -> None:
        self._sources = {source.name: source for source in sources}
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[datetime, int]] = {}  # (source, device or "") → (last, items)

    def configure(self, sources: Sequence[Expected]) -> None:
        """The configured sources changed (a published configuration): report these from now on, and forget what
        was heard from a source removed, so the cloud does not take a retired device for a silent one."""
        with self._lock:
            removed = set(self._sources) - {source.name for source in sources}
            self._sources = {source.name: source for source in sources}
            self._seen = {key: value for key, value in self._seen.items() if key[0] not in removed}

    def taken(self, events: Sequence[Taken]) -> None:
        at = self._clock()
        with self._lock:
            for event in events:
                key = (event.source, event.device_id or "")
                _, items = self._seen.get(key, (at, 0))
                self._seen[key] = (at, items + 1)

    def restore(self, saved: str | None) -> None:
        """What `dump` wrote (ignored when unreadable: it is telemetry, never a reason not to start)."""
        if not saved:
            return
        try:
            rows = json.loads(saved)
            restored = {(r["source"], r.get("device_id") or ""): (datetime.fromisoformat(r["last_seen_at"]),
                                                                  int(r["items"])) for r in rows}  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            for key, value in restored.items():
                if key not in self._seen or self._seen[key][0] < value[0]:
                    self._seen[key] = value

    def dump(self) -> str:
        with self._lock:
            rows = [
                {"source": source, "device_id": device or None, "last_seen_at": last.isoformat(), "items": items}
                for (source, device), (last, items) in sorted(self._seen.items())
            ]
        return json.dumps(rows, separators=(",", ":"))

    def report(self) -> list[DeviceActivity]:
        """Every configured source (heard from or not) and every device heard from, in name order."""
        with self._lock:
            seen, configured = dict(self._seen), dict(self._sources)
        rows: list[DeviceActivity] = []
        for name in sorted(set(configured) | {source for source, _ in seen}):
            expected = configured.get(name)
            kind = expected.kind if expected else "unknown"
            every = expected.expect_every_minutes if expected else None
            devices = sorted(device for source, device in seen if source == name)
            for device in devices or [""]:
                last, items = seen.get((name, device), (None, 0))
                rows.append(DeviceActivity(source=name, kind=kind, device_id=device or None, last_seen_at=last,
                                           items=items, expect_every_minutes=every))  # fmt: skip
        return rows
