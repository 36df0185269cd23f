"""ASTM E1381 / CLSI LIS1-A low-level protocol: a transport-agnostic session (serial and TCP alike).

The session consumes bytes (`feed`) and writes through a callback; time is passed in (`now`,
monotonic seconds) and `poll(now)` fires the standard's timers, so the core never reads a
clock and tests drive it byte by byte. One class plays both sides:

- receiver (the agent, "computer" role): ENQ → ACK; frames `STX FN text ETB|ETX C1 C2 CR LF`
  are checked (checksum, frame number 1..7,0,1..) and ACKed, or NAKed; a repeated frame
  (the sender missed our ACK) is ACKed again and not appended twice; EOT ends the transfer.
  The frame that completes an L (terminator) record is ACKed only after `on_message`
  returned: that callback stores the message durably, so an ACK means "safe on disk". If it
  raises, the frame is NAKed and the analyzer retransmits or gives up and resends later.
- sender (the simulator, "instrument" role): records are re-framed one record per frame,
  long records split into ≤ 240-character frames with ETB intermediates and ETX at the end
  of the record; ENQ, wait for ACK, send frames honouring ACK/NAK (at most 6
  retransmissions of a frame), EOT.

Contention (both ends send ENQ): the instrument wins. An instrument waits 1 s and sends ENQ
again; a computer gives up its turn, receives, and waits 20 s before trying again.
Timers (E1381 §6.5.2): sender waits 15 s for a reply; receiver waits 30 s for the next frame.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

log = logging.getLogger(__name__)

ENQ, ACK, NAK, EOT = b"\x05", b"\x06", b"\x15", b"\x04"
STX, ETX, ETB, CR, LF = b"\x02", b"\x03", b"\x17", b"\x0d", b"\x0a"

MAX_FRAME_TEXT = 240  # E1381: at most 247 characters per frame, 240 of them text
MAX_RETRANSMISSIONS = 6
SENDER_TIMEOUT = 15.0  # waiting for a reply to ENQ or to a frame
RECEIVER_TIMEOUT = 30.0  # waiting for the next frame or EOT
CONTENTION_WAIT = {"instrument": 1.0, "computer": 20.0}
BUSY_WAIT = 10.0  # after a NAK to our ENQ, the receiver is busy
MAX_FRAME_BYTES = 1_048_576  # receivers are lenient (real analyzers send frames far over 247)

Role = Literal["instrument", "computer"]


def checksum(body: bytes) -> bytes:
    """Two uppercase hex digits: sum of FN..ETX/ETB inclusive, modulo 256."""
    return b"%02X" % (sum(body) & 0xFF)


def build_frame(number: int, text: bytes, final: bool) -> bytes:
    body = str(number % 8).encode() + text + (ETX if final else ETB)
    return STX + body + checksum(body) + CR + LF


def frame_records(records: list[bytes], size: int = MAX_FRAME_TEXT) -> list[tuple[bytes, bool]]:
    """(text, final) per frame: one record per frame, CR-terminated, split into `size` chunks."""
    frames: list[tuple[bytes, bool]] = []
    for record in records:
        text = record.rstrip(b"\r\n") + CR
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        frames.extend((chunk, i == len(chunks) - 1) for i, chunk in enumerate(chunks))
    return frames


class State(Enum):
    IDLE = "idle"
    RECEIVING = "receiving"
    AWAIT_ENQ_REPLY = "await_enq_reply"
    AWAIT_FRAME_REPLY = "await_frame_reply"


@dataclass
class Stats:
    frames_accepted: int = 0
    frames_duplicate: int = 0
    naks_sent: int = 0
    messages_delivered: int = 0
    messages_sent: int = 0
    messages_failed: int = 0
    noise_bytes: int = 0
    timeouts: int = 0


@dataclass
class AstmSession:
    """One end of an E1381 link. Receiving: `on_message(transcript)`; sending: `send(records)`."""

    write: Callable[[bytes], None]
    on_message: Callable[[bytes], None] = lambda _transcript: None
    on_sent: Callable[[bool, str], None] = lambda _ok, _detail: None
    role: Role = "computer"
    stats: Stats = field(default_factory=Stats)
    state: State = State.IDLE
    deadline: float | None = None  # when poll() must next be called; None = no timer running
    _rx: bytearray = field(default_factory=bytearray)  # bytes of the frame being received
    _in_frame: bool = False
    _expected_fn: int = 1
    _last_fn: int | None = None
    _accepted: list[bytes] = field(default_factory=list)  # accepted frames of the current transfer
    _delivered_upto: int = 0
    _rx_naks: int = 0
    _store_failed: bool = False  # the last message's storing failed (NAKed): EOT must not deliver its frames
    _outbox: deque[list[tuple[bytes, bool]]] = field(default_factory=deque)
    _frames: list[tuple[bytes, bool]] = field(default_factory=list)
    _index: int = 0
    _retries: int = 0
    _resume_at: float | None = None  # earliest time to (re)try sending ENQ

    # -- sender side -------------------------------------------------------------------------

    def send(self, records: list[bytes], now: float) -> None:
        """Queue one message (its records, without framing) and start sending when the line is free."""
        self._outbox.append(frame_records(records))
        self._try_start(now)

    @property
    def busy(self) -> bool:
        return self.state is not State.IDLE or bool(self._outbox)

    def _try_start(self, now: float) -> None:
        if self.state is not State.IDLE or not self._outbox:
            return
        if self._resume_at is not None and now < self._resume_at:
            self.deadline = self._resume_at
            return
        self._resume_at = None
        self._frames, self._index, self._retries = self._outbox[0], 0, 0
        self.write(ENQ)
        self._set(State.AWAIT_ENQ_REPLY, now + SENDER_TIMEOUT)

    def _send_frame(self, now: float) -> None:
        text, final = self._frames[self._index]
        self.write(build_frame(self._index + 1, text, final))
        self._set(State.AWAIT_FRAME_REPLY, now + SENDER_TIMEOUT)

    def _end_send(self, ok: bool, detail: str, now: float) -> None:
        self.write(EOT)
        self._outbox.popleft()
        if ok:
            self.stats.messages_sent += 1
        else:
            self.stats.messages_failed += 1
        self._set(State.IDLE, None)
        self.on_sent(ok, detail)
        self._try_start(now)

    def _on_reply(self, byte: bytes, now: float) -> None:
        if self.state is State.AWAIT_ENQ_REPLY:
            if byte == ACK:
                self._send_frame(now)
            elif byte == NAK:  # receiver busy: try again later
                self._set(State.IDLE, None)
                self._resume_at = now + BUSY_WAIT
                self._try_start(now)
            elif byte == ENQ:
                self._contention(now)
            return
        if byte in (ACK, EOT):  # EOT = receiver interrupt request; the frame was still accepted
            self._index += 1
            self._retries = 0
            if self._index >= len(self._frames):
                self._end_send(True, f"{len(self._frames)} frames acknowledged", now)
            else:
                self._send_frame(now)
        elif byte == NAK:
            self._retries += 1
            if self._retries > MAX_RETRANSMISSIONS:
                self._end_send(False, f"frame {self._index + 1} refused {self._retries} times", now)
            else:
                self._send_frame(now)

    def _contention(self, now: float) -> None:
        self._set(State.IDLE, None)
        self._resume_at = now + CONTENTION_WAIT[self.role]
        if self.role == "computer":  # the instrument wins: receive its message first
            self._begin_receive(now)
        else:
            self.deadline = self._resume_at

    # -- receiver side -----------------------------------------------------------------------

    def _begin_receive(self, now: float) -> None:
        self._expected_fn, self._last_fn = 1, None
        self._accepted.clear()
        self._delivered_upto = 0
        self._rx_naks = 0
        self._store_failed = False
        self._set(State.RECEIVING, now + RECEIVER_TIMEOUT)

    def _on_receiving(self, byte: int, now: float) -> None:
        if self._in_frame:
            self._rx.append(byte)
            if byte == LF[0] and len(self._rx) >= 5 and self._rx[-2] == CR[0] and self._rx[-5] in (ETX[0], ETB[0]):
                self._in_frame = False
                self._on_frame(bytes(self._rx), now)
            elif len(self._rx) > MAX_FRAME_BYTES:
                self._in_frame = False
                self._nak(now, "frame too long")
            return
        if byte == STX[0]:
            self._in_frame, self._rx = True, bytearray()
        elif byte == EOT[0]:
            self._finish_transfer(now)
        elif byte == ENQ[0]:  # the sender restarted (it timed out waiting for us): start over
            self._finish_transfer(now)
            self.write(ACK)
            self._begin_receive(now)
        else:
            self.stats.noise_bytes += 1

    def _on_frame(self, raw: bytes, now: float) -> None:
        body, received = raw[:-4], raw[-4:-2]
        if checksum(body) != received.upper() or not body[:1].isdigit():
            self._nak(now, "bad checksum")
            return
        number = int(body[:1])
        if number == self._last_fn:
            self.stats.frames_duplicate += 1  # our ACK was lost: acknowledge again, keep one copy
            self._ack(now)
            return
        if number != self._expected_fn:
            self._nak(now, f"frame number {number}, expected {self._expected_fn}")
            return
        self._accepted.append(STX + raw)
        self._last_fn, self._expected_fn = number, (number + 1) % 8
        self.stats.frames_accepted += 1
        if body.endswith(ETX) and _ends_message(body):
            try:
                self._deliver()
            except Exception as exc:  # noqa: BLE001 — not stored: the analyzer must not get an ACK for it
                log.warning("astm message not stored", extra={"error": type(exc).__name__})
                self._accepted.pop()
                self._last_fn, self._expected_fn = None, number
                self._store_failed = True
                self._nak(now, "message could not be stored")
                return
            self._store_failed = False
        self._ack(now)

    def _deliver(self) -> None:
        frames = self._accepted[self._delivered_upto :]
        if not frames:
            return
        self.on_message(b"".join(frames))
        self._delivered_upto = len(self._accepted)
        self.stats.messages_delivered += 1

    def _finish_transfer(self, now: float) -> None:
        """EOT: deliver whatever was accepted but not delivered yet (a message without L record).

        Not after the message's last frame was refused because it could not be stored (spool full,
        disk error): the sender gave up on the whole message and sends it again later, so its first
        frames are dropped here rather than stored as a fragment beside the full resend."""
        if self._store_failed:
            self._store_failed = False
            del self._accepted[self._delivered_upto :]
            log.info("astm message not stored; its frames are dropped until the sender resends it")
            self._set(State.IDLE, None)
            self._try_start(now)
            return
        try:
            self._deliver()
        except Exception as exc:  # noqa: BLE001 — nothing left to NAK: the sender has finished. Loud, never silent.
            log.error("astm message without terminator could not be stored", extra={"error": type(exc).__name__})
        self._set(State.IDLE, None)
        self._try_start(now)

    def _ack(self, now: float) -> None:
        self._rx_naks = 0
        self.write(ACK)
        self.deadline = now + RECEIVER_TIMEOUT

    def _nak(self, now: float, why: str) -> None:
        self.stats.naks_sent += 1
        self._rx_naks += 1
        log.info("astm frame refused", extra={"why": why})
        self.write(NAK)
        self.deadline = now + RECEIVER_TIMEOUT

    # -- both --------------------------------------------------------------------------------

    def feed(self, data: bytes, now: float) -> None:
        for byte in data:
            if self.state is State.RECEIVING:
                self._on_receiving(byte, now)
            elif self.state in (State.AWAIT_ENQ_REPLY, State.AWAIT_FRAME_REPLY):
                self._on_reply(bytes([byte]), now)
            elif byte == ENQ[0]:
                self.write(ACK)
                self._begin_receive(now)
            else:
                self.stats.noise_bytes += 1

    def poll(self, now: float) -> None:
        """Fire due timers: give up a silent transfer, or start a deferred send."""
        if self.deadline is None or now < self.deadline:
            return
        if self.state is State.RECEIVING:
            self.stats.timeouts += 1
            self._in_frame = False
            self._finish_transfer(now)
            return
        elif self.state in (State.AWAIT_ENQ_REPLY, State.AWAIT_FRAME_REPLY):
            self.stats.timeouts += 1
            self._end_send(False, "no reply within 15 s", now)
            return
        self.deadline = None
        self._try_start(now)

    def _set(self, state: State, deadline: float | None) -> None:
        self.state, self.deadline = state, deadline


def _ends_message(body: bytes) -> bool:
    """True when the frame text's last record is an L (terminator) record."""
    text = body[1:-1].rstrip(b"\r\n")
    last = text.rsplit(b"\r", 1)[-1]
    return last[:1] in (b"L", b"l") and (len(last) == 1 or not last[1:2].isalnum())
