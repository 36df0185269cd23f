"""Group commit: concurrent submits share one durable commit (one fsync) instead of paying one each.

Leader/follower, no thread of its own: a caller that finds no commit running takes everything
queued (its own entry included) and commits it; callers arriving meanwhile queue up and wait.
When the commit ends, every waiter of that batch gets its own outcome and one of the next
queue becomes the leader. Under light load a batch is a single entry (no added latency);
under load the batch grows by itself to what arrived during the previous fsync.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 256  # bounds one transaction's size; the rest waits for the next commit


@dataclass
class _Slot(Generic[T, R]):
    entry: T
    done: bool = False
    result: R | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """`commit(entries)` returns one outcome per entry, in order: a result or the exception to raise."""

    def __init__(self, commit: Callable[[Sequence[T]], Sequence[R | BaseException]]) -> None:
        self._commit = commit
        self._cond = threading.Condition()
        self._queue: list[_Slot[T, R]] = []
        self._busy = False
        self.batches = 0  # commits run (the bench reports entries per commit)
        self.entries = 0

    def __call__(self, entry: T) -> R:
        """Blocks until `entry` is committed (by this thread or another); raises its error."""
        (outcome,) = self.many([entry])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def many(self, entries: Sequence[T]) -> list[R | BaseException]:
        """Blocks until every entry is committed; one outcome per entry, in order (errors returned,
        not raised). A source that gathers messages itself (the MLLP event loop) hands them over
        together, from one thread, and still shares commits with the other callers."""
        slots: list[_Slot[T, R]] = [_Slot(e) for e in entries]
        with self._cond:
            self._queue.extend(slots)
        while True:
            with self._cond:
                while self._busy and not all(s.done for s in slots):
                    self._cond.wait()
                if all(s.done for s in slots):
                    break
                # Nobody is committing: lead, with everything queued so far (older entries first).
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                self._busy = True
            self._lead(batch)
        return [s.error if s.error is not None else s.result for s in slots]  # type: ignore[misc]  # set when no error

    def _lead(self, batch: list[_Slot[T, R]]) -> None:
        outcomes: Sequence[R | BaseException]
        try:
            outcomes = self._commit([s.entry for s in batch])
        except BaseException as exc:  # noqa: BLE001 — handed to every waiter (re-raised there), none may hang
            outcomes = [exc] * len(batch)
        with self._cond:
            for slot, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    slot.error = outcome
                else:
                    slot.result = outcome
                slot.done = True
            self.batches += 1
            self.entries += len(batch)
            self._busy = False
            self._cond.notify_all()
