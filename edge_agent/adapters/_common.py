"""Small pure helpers shared by the device adapters: decoding, absent-value rules, numbers, eyes."""

from __future__ import annotations

import re
from typing import Literal

# What devices write when a value was not measured. ARCHITECTURE §3: omitted, never 0.
_ABSENT = re.compile(r"^\s*(?:-+\.?-*|\?+|\*+|N/?A|--\.-|)\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")

EYES: dict[str, Literal["OD", "OS"]] = {"R": "OD", "L": "OS", "OD": "OD", "OS": "OS", "RIGHT": "OD", "LEFT": "OS"}


def decode_text(raw: bytes) -> tuple[str, list[str]]:
    """Bytes to text whatever the file claims: BOMs first, then NUL patterns, UTF-8, Windows-1252.

    Device XML often declares one encoding and is written in another (NIDEK writes
    `encoding="UTF-16"` on UTF-8 bytes when the file passed through a copy tool), so the
    declaration is never trusted; the bytes decide. Returns the text and any warning.
    """
    warnings: list[str] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), warnings
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace"), warnings
    head = raw[:64]
    if head[1:2] == b"\x00" and head[0:1] != b"\x00":
        return raw.decode("utf-16-le", errors="replace"), warnings
    if head[0:1] == b"\x00" and head[1:2] not in (b"", b"\x00"):
        return raw.decode("utf-16-be", errors="replace"), warnings
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        warnings.append("not valid UTF-8; read as Windows-1252")
        text = raw.decode("cp1252", errors="replace")
    declared = re.search(r"""<\?xml[^>]*encoding\s*=\s*["']([\w.-]+)""", text[:200])
    if declared and declared.group(1).upper().replace("-", "") == "UTF16":
        warnings.append("declares encoding UTF-16 but the bytes are 8-bit; read as UTF-8")
    return text, warnings


def number(text: str | None) -> float | None:
    """The first number in `text` ("12.00 mm" -> 12.0, " 0.20" -> 0.2); None when absent or placeholder."""
    if text is None or _ABSENT.match(text):
        return None
    found = _NUMBER.search(text.replace(",", "."))
    return float(found.group()) if found else None


def axis(text: str | None) -> int | None:
    """An axis in whole degrees 0-180, or None."""
    value = number(text)
    if value is None or not 0 <= value <= 180:
        return None
    return round(value)


def present(text: str | None) -> str | None:
    """Stripped text, or None when the device marked it absent."""
    if text is None or _ABSENT.match(text):
        return None
    return text.strip()


def eye(code: str | None) -> Literal["OD", "OS"] | None:
    return EYES.get((code or "").strip().upper())


def looks_binary(raw: bytes, sniff: int = 512) -> bool:
    """True for binary containers (DICOM preamble, JPEG, OCT...), cheaply, so text detectors can stop early.

    Text in UTF-16 has NUL bytes too, but only at one parity (ASCII in LE: odd offsets); binary
    data has them at both. A few NULs at the other parity (U+0100-style characters) are tolerated.
    """
    head = raw[:sniff]
    if b"\x00" not in head:
        return False
    return min(head[0::2].count(0), head[1::2].count(0)) >= 4
