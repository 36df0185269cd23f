"""MLLP framing (HL7 v2 over TCP): byte stream ⇄ messages, pure and transport-agnostic.

A frame is VT (0x0B) + message + FS (0x1C) + CR (0x0D). The decoder takes bytes in any
chunking (a frame split over many reads, several frames in one read) and yields whole
messages. Bytes outside a frame (line noise, keep-alive CRs, a sender that forgot VT) are
discarded and counted. A frame longer than `max_message_bytes` is an error: its bytes are
dropped until the next VT, so one runaway sender cannot exhaust memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VT = b"\x0b"
FS = b"\x1c"
CR = b"\x0d"
END = FS + CR


@dataclass(frozen=True)
class Oversized:
    """A frame went over the size limit and was dropped; `size` is how many bytes were seen."""

    size: int


Event = bytes | Oversized


def encode(message: bytes) -> bytes:
    """One MLLP frame around `message`."""
    return VT + message + END


@dataclass
class MllpDecoder:
    """Incremental MLLP decoder; `feed(chunk)` returns the complete messages (or Oversized) in order."""

    max_message_bytes: int = 1_048_576
    junk_bytes: int = 0  # bytes seen outside any frame, discarded
    oversized_frames: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _in_frame: bool = False
    _skipping: bool = False  # inside an oversized frame: its bytes are dropped, only counted
    _skipped: int = 0
    _scanned: int = 0  # bytes of _buf already searched for FS CR / VT

    def feed(self, chunk: bytes) -> list[Event]:
        self._buf += chunk
        events: list[Event] = []
        while self._buf:
            if not self._in_frame:
                if not self._open():
                    break
                continue
            if not self._close(events):
                break
        return events

    def _open(self) -> bool:
        """Skip to the next VT; False when there is none in the buffer yet."""
        start = self._buf.find(VT)
        if start < 0:
            self.junk_bytes += len(self._buf)
            self._buf.clear()
            return False
        self.junk_bytes += start
        del self._buf[: start + 1]
        self._in_frame, self._skipping, self._skipped, self._scanned = True, False, 0, 0
        return True

    def _close(self, events: list[Event]) -> bool:
        """Find the end of the open frame; False when more bytes are needed."""
        since = max(self._scanned - 1, 0)  # FS may have been the last byte of the previous chunk
        end = self._buf.find(END, since)
        restart = self._buf.find(VT, since)
        if restart >= 0 and (end < 0 or restart < end):
            # A new VT before this frame ended: the sender gave up on it; the newer frame wins.
            if self._skipping:
                events.append(Oversized(self._skipped + restart))
            else:
                self.junk_bytes += restart
            del self._buf[:restart]
            self._in_frame = False
            return True
        if end >= 0:
            self._emit(events, end)
            del self._buf[: end + 2]
            self._in_frame = False
            return True
        if self._skipping or len(self._buf) > self.max_message_bytes:
            if not self._skipping:
                self.oversized_frames += 1
                self._skipping = True
            self._skipped += len(self._buf) - 1
            del self._buf[:-1]  # keep the last byte: it may be the FS of FS CR
        self._scanned = len(self._buf)
        return False

    def _emit(self, events: list[Event], end: int) -> None:
        if self._skipping:
            events.append(Oversized(self._skipped + end))
        elif end > self.max_message_bytes:
            self.oversized_frames += 1
            events.append(Oversized(end))
        else:
            events.append(bytes(self._buf[:end]))

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame held in memory (bounded by max_message_bytes)."""
        return len(self._buf)
