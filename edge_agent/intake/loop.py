"""The intake's door for sources that run an asyncio event loop (MLLP): describe, then commit on that loop.

One `LoopDoor` per event loop, made by `Intake.submit_async` the first time the loop calls it.
Parsing runs in the parse workers (edge_agent.intake.parse_pool) when the agent has them and
they serve this loop, else on the loop itself (CPU-bound, so a thread would only add hand-offs
under the GIL; inputs over 64 KB go to a thread so they do not stall the loop's other work).
The commit runs on the loop too (`LoopCommitter`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from edge_agent.intake.parse_pool import ParsePool
from edge_agent.intake.port import IntakeResult
from edge_agent.spool.records import Described, Incoming, NewItem

INLINE_DESCRIBE_MAX_BYTES = 64 * 1024  # bigger inputs are described in a thread, so the loop keeps answering

StoreMany = Callable[[Sequence[Incoming]], list[IntakeResult | BaseException]]
Describe = Callable[[NewItem, bytes], Described]


class LoopCommitter:
    """Group commit on an event loop: every input described since the last commit goes into the
    next one (one transaction, one fsync), run as soon as the loop is free.

    On the loop, not in a thread: a second thread in this process would wait for the GIL after
    every SQLite call (several per commit) while the loop parses, which made a commit take
    three times as long as its own work. While a commit fsyncs the loop waits, and what arrives
    meanwhile (new messages, parse workers' answers) forms the next batch by itself.
    """

    def __init__(self, store_many: StoreMany, loop: asyncio.AbstractEventLoop) -> None:
        self._store_many = store_many
        self._loop = loop
        self._waiting: list[tuple[Incoming, asyncio.Future[IntakeResult]]] = []

    def store(self, incoming: Incoming) -> asyncio.Future[IntakeResult]:
        """The future gets the result once `incoming` is durable (or the spool's error)."""
        future = self._loop.create_future()
        if not self._waiting:
            self._loop.call_soon(self._commit)  # after the callbacks already due: they may add to the batch
        self._waiting.append((incoming, future))
        return future

    def _commit(self) -> None:
        batch, self._waiting = self._waiting, []
        try:
            outcomes: Sequence[IntakeResult | BaseException] = self._store_many([i for i, _ in batch])
        except Exception as exc:  # noqa: BLE001 — each waiting source gets it (none acknowledges)
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the caller went away meanwhile (source stopping)
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


class LoopDoor:
    """What one event loop's inputs go through: describe (workers, loop or thread), then the loop's commit."""

    def __init__(
        self, describe: Describe, store_many: StoreMany, loop: asyncio.AbstractEventLoop, pool: ParsePool | None
    ) -> None:
        self._describe = describe
        self.committer = LoopCommitter(store_many, loop)
        self._pool = pool if pool is not None and pool.bind(loop) else None

    async def describe(self, new: NewItem, raw: bytes) -> Described:
        if self._pool is not None:
            return await self._pool.describe(new, raw)
        if len(raw) > INLINE_DESCRIBE_MAX_BYTES:
            return await asyncio.to_thread(self._describe, new, raw)
        return self._describe(new, raw)
