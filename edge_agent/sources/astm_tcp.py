"""ASTM over TCP source: E1381 sessions on sockets, as server (analyzers connect) or client (we connect).

The E1381 session (edge_agent.framing.astm_e1381) does the protocol; this module only moves
bytes and time; `edge_agent.sources.stream` (shared with the serial source) pumps them into the
session. A received message is submitted to the spool inside the session's callback, before the
frame carrying its L record is ACKed.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from edge_agent.config import AstmTcpSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.framing.astm_e1381 import AstmSession
from edge_agent.intake.port import IntakePort
from edge_agent.sources.stream import POLL_SECONDS, drive, socket_reader, submitter

log = logging.getLogger(__name__)
RECONNECT_SECONDS = (1.0, 30.0)  # client mode: first and longest wait between attempts


class AstmTcpSource:
    def __init__(self, config: AstmTcpSourceConfig, intake: IntakePort) -> None:
        self.config = config
        self.intake = intake
        self.port: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        if self.config.mode == "server":
            try:
                self._listener = socket.create_server((self.config.host, self.config.port), reuse_port=False)
            except OSError as exc:
                raise EdgeAgentError(f"astm_tcp source {self.config.name}: cannot listen: {exc}") from exc
            self._listener.settimeout(POLL_SECONDS)
            self.port = self._listener.getsockname()[1]
            self._spawn(self._accept_loop, "accept")
        else:
            self._spawn(self._client_loop, "client")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        if self._listener is not None:
            self._listener.close()

    def _spawn(self, target: Callable[..., None], what: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=f"astm-{self.config.name}-{what}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, "conn", conn, f"astm+tcp://{peer[0]}:{peer[1]}")

    def _client_loop(self) -> None:
        wait = RECONNECT_SECONDS[0]
        while not self._stop.is_set():
            try:
                conn = socket.create_connection((self.config.host, self.config.port), timeout=5)
            except OSError as exc:
                log.warning("astm_tcp connect failed", extra={"source": self.config.name, "error": str(exc)})
                self._stop.wait(wait)
                wait = min(wait * 2, RECONNECT_SECONDS[1])
                continue
            wait = RECONNECT_SECONDS[0]
            self._serve(conn, f"astm+tcp://{self.config.host}:{self.config.port}")

    def _serve(self, conn: socket.socket, uri: str) -> None:
        conn.settimeout(POLL_SECONDS)
        session = AstmSession(
            write=conn.sendall,
            on_message=submitter(
                self.intake, source_kind="astm_tcp", uri=uri, device_id=self.config.device_id, source=self.config.name
            ),
        )

        try:
            drive(session, socket_reader(conn), self._stop)
        except OSError as exc:
            log.info("astm_tcp peer gone", extra={"source": self.config.name, "error": type(exc).__name__})
        finally:
            conn.close()
