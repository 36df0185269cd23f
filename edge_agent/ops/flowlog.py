"""The "items parsed" log line of a busy link: at once after a quiet interval, else at most one per interval.

An analyzer link can commit hundreds of times a second; a line per commit costs the event loop
time and floods the clinic PC's log. Each line carries the counts since the previous one (per
source kind); what a burst leaves is written when its interval ends (a timer thread), so no
count waits for the next message. Per-item lines stay at DEBUG; quarantines and duplicates keep
their own INFO lines. Listens to `Intake.on_taken` (batched commits only); `close()` writes what
is left and stops the timer, before the log's output closes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_agent.intake.intake import Taken


@dataclass
class _Counts:
    first_item_id: int
    last_item_id: int
    items: int = 0
    envelopes: int = 0


class FlowLog:
    def __init__(
        self, logger: logging.Logger, interval: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._log, self._interval, self._clock = logger, interval, clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Counts] = {}  # per source kind, since the last line
        self._last = -math.inf  # when the last line was written
        self._timer: threading.Timer | None = None
        self._closed = False

    def taken(self, taken: Sequence[Taken]) -> None:
        """The `Intake.on_taken` listener: counts the parsed items of a batched commit."""
        parsed = [t for t in taken if t.batched and not t.result.duplicate and not t.result.quarantined]
        if parsed:
            first, last = parsed[0], parsed[-1]
            envelopes = sum(t.result.envelopes for t in parsed)
            self.add(first.source_kind, len(parsed), first.result.item_id, last.result.item_id, envelopes)

    def add(self, source_kind: str, items: int, first_item_id: int, last_item_id: int, envelopes: int) -> None:
        """Counts one commit's parsed items; writes the line now if the last one is an interval old."""
        if not items:
            return
        with self._lock:
            counts = self._pending.setdefault(source_kind, _Counts(first_item_id, last_item_id))
            counts.last_item_id = last_item_id
            counts.items += items
            counts.envelopes += envelopes
            wait = self._interval - (self._clock() - self._last)
            if wait <= 0 or self._closed:
                self._write()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Writes what is counted (the timer's call; the agent's stop calls it too)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()  # a no-op when the timer is the caller
                self._timer = None
            if self._pending:
                self._write()

    def close(self) -> None:
        """Writes what is counted and starts no timer from now on (the agent's stop, in order)."""
        with self._lock:
            self._closed = True
        self.flush()

    def _write(self) -> None:
        for kind, c in self._pending.items():
            self._log.info(
                "items parsed",
                extra={"items": c.items, "first_item_id": c.first_item_id, "last_item_id": c.last_item_id,
                       "envelopes": c.envelopes, "source_kind": kind},
            )  # fmt: skip
        self._pending.clear()
        self._last = self._clock()
