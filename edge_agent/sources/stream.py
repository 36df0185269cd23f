"""Helpers for sources that speak ASTM E1381 over a byte stream (serial ports, TCP sockets).

`drive()` reads with a short timeout, feeds the session and fires its timers; `submitter()` is
the session's `on_message`, handing each message to the intake before it is acknowledged.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from edge_agent.framing.astm_e1381 import AstmSession
from edge_agent.intake.port import IntakePort, Origin

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2  # how long a read waits: the session's timers are checked at least this often


def socket_reader(conn: socket.socket) -> Callable[[], bytes]:
    """`read` for `drive` over a socket with a timeout: b'' when nothing came in time, ConnectionResetError
    when the peer closed."""

    def read() -> bytes:
        try:
            data = conn.recv(65536)
        except TimeoutError:
            return b""
        if not data:
            raise ConnectionResetError("peer closed")
        return data

    return read


def drive(session: AstmSession, read: Callable[[], bytes], stop: threading.Event) -> None:
    """Pump bytes into `session` until `stop` is set or `read` raises (peer gone). `read` may return b''."""
    while not stop.is_set():
        data = read()
        now = time.monotonic()
        if data:
            session.feed(data, now)
        session.poll(now)


def submitter(
    intake: IntakePort, *, source_kind: str, uri: str, device_id: str | None, source: str
) -> Callable[[bytes], None]:
    """The session's `on_message`: store the transcript; an exception makes the session NAK."""

    def submit(transcript: bytes) -> None:
        name = f"astm-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.astm"
        result = intake.submit(transcript, Origin(name, source_kind, uri, device_id=device_id, source=source))
        log.info(
            "astm message stored",
            extra={"item_id": result.item_id, "duplicate": result.duplicate, "quarantined": result.quarantined},
        )

    return submit
