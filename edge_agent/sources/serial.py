"""Serial (RS-232) source: pyserial, ASTM E1381 sessions or line-oriented device output; reopens a lost port.

protocol "astm": the E1381 session answers the analyzer (ENQ/ACK/NAK/EOT) and a message is
stored before the frame with its L record is ACKed. protocol "lines": devices that just print
(NIDEK RS-232 output and the like) have no protocol; what arrives is collected until the line
has been quiet for `IDLE_SECONDS`, then stored as one input. A USB-serial adapter that is
unplugged makes reads fail: the port is closed and reopened with growing waits.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import serial

from edge_agent.config import SerialSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.framing.astm_e1381 import AstmSession
from edge_agent.intake.port import IntakePort, Origin
from edge_agent.sources.stream import POLL_SECONDS, drive, submitter

log = logging.getLogger(__name__)
IDLE_SECONDS = 1.0  # "lines": a device's printout is complete after this much silence
REOPEN_SECONDS = (0.5, 30.0)
_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


class SerialSource:
    def __init__(self, config: SerialSourceConfig, intake: IntakePort) -> None:
        self.config = config
        self.intake = intake
        self.uri = f"serial://{config.device}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.opened = threading.Event()  # set while the port is open (tests, status)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"serial-{self.config.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _open(self) -> Any:
        c = self.config
        return serial.Serial(
            c.device,
            c.baudrate,
            bytesize=c.bytesize,
            parity=_PARITY[c.parity],
            stopbits=c.stopbits,
            timeout=POLL_SECONDS,
        )

    def _run(self) -> None:
        wait = REOPEN_SECONDS[0]
        while not self._stop.is_set():
            try:
                port = self._open()
            except (serial.SerialException, OSError) as exc:
                log.warning("serial port unavailable", extra={"source": self.config.name, "error": str(exc)})
                self._stop.wait(wait)
                wait = min(wait * 2, REOPEN_SECONDS[1])
                continue
            wait = REOPEN_SECONDS[0]
            self.opened.set()
            try:
                self._serve(port)
            except (serial.SerialException, OSError) as exc:
                log.warning("serial port lost; reopening", extra={"source": self.config.name, "error": str(exc)})
            finally:
                self.opened.clear()
                port.close()

    def _serve(self, port: Any) -> None:
        def read() -> bytes:
            return bytes(port.read(port.in_waiting or 1))

        if self.config.protocol == "astm":
            session = AstmSession(
                write=port.write,
                on_message=submitter(
                    self.intake,
                    source_kind="serial",
                    uri=self.uri,
                    device_id=self.config.device_id,
                    source=self.config.name,
                ),
            )
            drive(session, read, self._stop)
        else:
            self._lines(read)

    def _lines(self, read: Any) -> None:
        buffer = bytearray()
        last = time.monotonic()
        while not self._stop.is_set():
            data = read()
            now = time.monotonic()
            if data:
                buffer += data
                last = now
            elif buffer and now - last >= IDLE_SECONDS:
                self._submit(bytes(buffer))
                buffer.clear()
        if buffer:
            self._submit(bytes(buffer))

    def _submit(self, raw: bytes) -> None:
        name = f"serial-{self.config.name}-{time.strftime('%Y%m%dT%H%M%S')}.txt"
        try:
            origin = Origin(name, "serial", self.uri, device_id=self.config.device_id, source=self.config.name)
            self.intake.submit(raw, origin)
        except EdgeAgentError as exc:  # a line device cannot resend: say so loudly, keep listening
            log.error("serial output could not be stored", extra={"source": self.config.name, "error": str(exc)})
