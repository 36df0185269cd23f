"""MLLP source: an asyncio TCP listener for HL7 v2 analyzers; ACKs only after the message is spooled.

Each connection has its own MLLP decoder; messages on one connection are handled in order
(analyzers wait for each ACK). Every message goes through `IntakePort.submit_async` on this
source's event loop: the intake hashes, dedupes, describes (in parse workers when the agent has
them) and commits what arrived together in one transaction, on this loop.
The answer (edge_agent.hl7.ack):
- AA once the message is durable — also for a duplicate: an analyzer that lost our ACK
  retransmits the same bytes, gets AA again, and the spool keeps one copy;
- AE with an ERR segment naming the reason when the message was stored but quarantined;
- AR when the spool refused it (full, disk error) or the frame was over `max_message_bytes`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from datetime import UTC, datetime

from edge_agent.config import MllpSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.framing.mllp import MllpDecoder, Oversized, encode
from edge_agent.hl7.ack import build_ack, control_id
from edge_agent.intake.port import IntakePort, Origin

log = logging.getLogger(__name__)
_READ_SIZE = 65536


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
        finally:
            if self._loop is not None:  # ended with every task of it: a restart must not leave it behind
                self.intake.release_loop(self._loop)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.config.host, self.config.port)
        self.port = server.sockets[0].getsockname()[1]
        log.info("mllp listening", extra={"source": self.config.name, "port": self.port})
        self._ready.set()
        async with server:
            await self._stop.wait()

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
        origin = Origin(name, "mllp", uri, device_id=self.config.device_id, source=self.config.name)
        try:
            result = await self.intake.submit_async(event, origin)
        except EdgeAgentError as exc:
            log.error("mllp message refused by spool", extra={"source": self.config.name, "error": str(exc)})
            text = str(exc)  # a spool-full refusal names its reason code first ("spool_full: ...")
            reason = "spool_full" if text.startswith("spool_full: ") else "spool_refused"
            detail = text.removeprefix("spool_full: ")
            return build_ack(event, "AR", now=now, ack_control_id=ack_id, reason=reason, detail=detail)
        if result.quarantined:
            return build_ack(
                event, "AE", now=now, ack_control_id=ack_id, reason=result.reason or "", detail=result.detail
            )
        return build_ack(event, "AA", now=now, ack_control_id=ack_id)
