"""MLLP source: an asyncio TCP listener for HL7 v2 analyzers; ACKs only after the message is spooled.

Each connection has its own MLLP decoder; messages on one connection are handled in order
(analyzers wait for each ACK). With the real Intake, a message is hashed and checked against
the ledger on the event loop (`Intake.admit`), then parsed: with `parse_workers` in worker
processes (edge_agent.parse_pool, other cores), else on the loop itself (CPU-bound, so a thread
would only add hand-offs under the GIL; messages over 64 KB go to a thread so they do not stall
other analyzers). The loop also commits (`_Committer`): every message described while the
previous commit fsynced goes into the next one (one transaction, one fsync for all). An intake
with only `submit` (test fakes) gets it called in a worker thread.
The answer:
- AA once submit returned (the bytes are durable) — also for a duplicate: an analyzer that
  lost our ACK retransmits the same bytes, gets AA again, and the spool keeps one copy;
- AE with an ERR segment naming the reason when the message was stored but quarantined;
- AR when the spool refused it (full, disk error) or the frame was over `max_message_bytes`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from edge_agent.adapters.hl7_ack import build_ack, control_id
from edge_agent.config import MllpSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.framing.mllp import MllpDecoder, Oversized, encode
from edge_agent.parse_pool import ParsePool
from edge_agent.pipeline import Identity, IntakeResult
from edge_agent.sources import IntakePort
from edge_agent.spool import Described, Incoming, NewItem, Origin

log = logging.getLogger(__name__)
_READ_SIZE = 65536
_INLINE_PARSE_MAX_BYTES = 64 * 1024  # bigger messages are parsed in a thread, so the loop keeps answering


@runtime_checkable
class BatchIntake(Protocol):
    """`edge_agent.pipeline.Intake` in steps: admit (hash, dedupe), describe (parse), then commit many."""

    ident: Identity

    def admit(self, raw: bytes, origin: Origin) -> NewItem | IntakeResult: ...

    def describe_new(self, new: NewItem, raw: bytes) -> Described: ...

    def store_many(self, batch: Sequence[Incoming]) -> list[IntakeResult | BaseException]: ...


class _Committer:
    """Group commit on the source's event loop: every message described since the last commit
    goes into the next one (one transaction, one fsync), run as soon as the loop is free.

    On the loop, not in a thread: a second thread in this process would wait for the GIL after
    every SQLite call (several per commit) while the loop parses, which made a commit take
    three times as long as its own work. While a commit fsyncs the loop waits, and what arrives
    meanwhile (new messages, parse workers' answers) forms the next batch by itself.
    """

    def __init__(self, intake: BatchIntake, loop: asyncio.AbstractEventLoop) -> None:
        self._intake = intake
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
            outcomes: Sequence[IntakeResult | BaseException] = self._intake.store_many([i for i, _ in batch])
        except Exception as exc:  # noqa: BLE001 — each waiting connection gets it (none answers AA)
            outcomes = [exc] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the connection went away meanwhile (source stopping)
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


class MllpSource:
    def __init__(self, config: MllpSourceConfig, intake: IntakePort) -> None:
        self.config = config
        self.intake = intake
        self.port: int | None = None  # the bound port, once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ack_ids = itertools.count(1)
        self._committer: _Committer | None = None
        self._batch: BatchIntake | None = intake if isinstance(intake, BatchIntake) else None  # checked once
        self.pool: ParsePool | None = None  # parse workers, when configured (running while serving)
        self.messages = 0  # answered messages, for status and tests

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"mllp-{self.config.name}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise EdgeAgentError(f"mllp source {self.config.name}: cannot listen: {self._error}") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:  # noqa: BLE001 — reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.config.host, self.config.port)
        self.port = server.sockets[0].getsockname()[1]
        log.info("mllp listening", extra={"source": self.config.name, "port": self.port})
        if self._batch is not None:
            self._committer = _Committer(self._batch, self._loop)
            if self.config.parse_workers:
                self.pool = ParsePool(self.config.parse_workers, self._batch.ident, name=self.config.name)
                self.pool.start()
        self._ready.set()
        async with server:
            await self._stop.wait()
        if self.pool is not None:
            self.pool.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        uri = f"mllp://{peer[0]}:{peer[1]}"
        decoder = MllpDecoder(max_message_bytes=self.config.max_message_bytes)
        try:
            while chunk := await reader.read(_READ_SIZE):
                for event in decoder.feed(chunk):
                    answer = await self._answer(event, uri)
                    writer.write(encode(answer))
                    await writer.drain()
                    self.messages += 1
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("mllp peer gone", extra={"source": self.config.name, "error": type(exc).__name__})
        except asyncio.CancelledError:
            pass  # the source is stopping; an unanswered message is resent by the analyzer
        finally:
            if decoder.junk_bytes:
                log.info("mllp junk discarded", extra={"source": self.config.name, "bytes": decoder.junk_bytes})
            writer.close()

    async def _answer(self, event: bytes | Oversized, uri: str) -> bytes:
        now = datetime.now(UTC)
        ack_id = f"{self.config.name}-{now:%Y%m%d%H%M%S}-{next(self._ack_ids)}"
        if isinstance(event, Oversized):
            detail = f"message of {event.size} bytes is over the {self.config.max_message_bytes}-byte limit"
            return build_ack(b"", "AR", now=now, ack_control_id=ack_id, reason="too_large", detail=detail)
        name = f"mllp-{control_id(event) or 'message'}.hl7"
        try:
            result = await self._submit(event, name, uri)
        except EdgeAgentError as exc:
            log.error("mllp message refused by spool", extra={"source": self.config.name, "error": str(exc)})
            return build_ack(event, "AR", now=now, ack_control_id=ack_id, reason="spool_refused", detail=str(exc))
        if result.quarantined:
            return build_ack(
                event, "AE", now=now, ack_control_id=ack_id, reason=result.reason or "", detail=result.detail
            )
        return build_ack(event, "AA", now=now, ack_control_id=ack_id)

    async def _submit(self, event: bytes, name: str, uri: str) -> IntakeResult:
        """Returns once `event` is durable (or a duplicate); raises SpoolFull/SpoolError."""
        origin = Origin(name, "mllp", uri, device_id=self.config.device_id)
        intake, committer = self._batch, self._committer
        if committer is None or intake is None:
            return await asyncio.to_thread(self.intake.submit, event, origin)
        new = intake.admit(event, origin)
        if isinstance(new, IntakeResult):
            return new  # bytes already taken: AA again, nothing stored twice
        described = await self._describe(intake, new, event)
        return await committer.store(described.incoming(new, event))

    async def _describe(self, intake: BatchIntake, new: NewItem, event: bytes) -> Described:
        if self.pool is not None:
            return await self.pool.describe(new, event)
        if len(event) > _INLINE_PARSE_MAX_BYTES:
            return await asyncio.to_thread(intake.describe_new, new, event)
        return intake.describe_new(new, event)
