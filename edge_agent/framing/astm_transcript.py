"""Captured E1381 transcripts (a file of frames, or what a session stored) back to record text.

Pure: a transcript has no sender to NAK, so bad checksums and frame-number breaks are reported
for the caller to turn into warnings, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.framing.astm_e1381 import CR, ETB, ETX, STX, checksum


@dataclass
class Transcript:
    """Text recovered from a captured byte stream of E1381 frames (a file, or what a session stored)."""

    text: bytes
    frames: int
    bad_checksums: list[str]
    sequence_breaks: list[str]


def unframe(data: bytes) -> Transcript:
    """Concatenate frame texts; ETX closes a record (CR added if the frame did not end with one).

    Control characters of the session (ENQ, ACK, EOT...) between frames are skipped. Frame
    numbers out of sequence are reported, not fatal: analyzers restart numbering (Yumizen
    H500 restarts at 1 for each M record) and a transcript has no one to NAK.
    """
    out = bytearray()
    bad: list[str] = []
    breaks: list[str] = []
    count = 0
    expected: int | None = None
    pos = data.find(STX)
    while pos >= 0:
        end = _frame_end(data, pos + 1)
        if end < 0:
            break
        body = data[pos + 1 : end + 1]
        received = data[end + 1 : end + 3]
        count += 1
        if checksum(body) != received.upper():
            bad.append(f"frame {count}: checksum {received.decode('latin-1')!r}, computed {checksum(body).decode()}")
        number = int(body[:1]) if body[:1].isdigit() else None
        if expected is not None and number != expected:
            breaks.append(f"frame {count}: number {number}, expected {expected}")
        expected = None if number is None else (number + 1) % 8
        text = body[1:-1] if number is not None else body[:-1]
        out += text
        if body.endswith(ETX) and not text.endswith(CR):
            out += CR
        pos = data.find(STX, end + 1)
    return Transcript(bytes(out), count, bad, breaks)


def _frame_end(data: bytes, start: int) -> int:
    """Index of the ETX/ETB closing the frame that starts at `start` (followed by 2 checksum chars)."""
    for i in range(start, len(data)):
        byte = data[i]
        if byte in (ETX[0], ETB[0]) and i + 2 < len(data) + 0 and _hex2(data[i + 1 : i + 3]):
            return i
        if byte == STX[0]:
            return -1
    return -1


def _hex2(chunk: bytes) -> bool:
    return len(chunk) == 2 and all(c in b"0123456789ABCDEFabcdef" for c in chunk)
