"""HL7 v2 (ER7) text before syntax: bytes to text, line clean-up, message splitting, quick HL7 checks. Pure.

What analyzers and their exports really send: a BOM, CR, LF or CRLF line ends, literal "<cr>"
text, comment lines, blank lines, several messages in one file, messages still in their MLLP
frames (VT … FS CR: a capture of a link, or some analyzers' file export). MLLP's common shape (CR-only
text, nothing to tidy) takes a shortcut that gives the general path's answer for less work.
"""

from __future__ import annotations

import re

BOM = "\ufeff"
_SEGMENT = re.compile(r"^[A-Z][A-Z0-9]{2}(?=[^A-Za-z0-9\s]|$)")
_LITERAL_CR = re.compile(r"<cr>(?:<lf>)?", re.IGNORECASE)
_LITERAL_CR_USED = re.compile(r"<cr>(?:<lf>)?\s*(?:$|[A-Z][A-Z0-9]{2}\|)", re.IGNORECASE | re.MULTILINE)
_MLLP_FRAMED = re.compile(r"^\s*\x0b")  # a file that starts with a frame's VT
_MLLP_MARKS = re.compile(r"[\x0b\x1c]")  # VT opens a frame, FS (before its CR) closes it
KNOWN_SEGMENTS = frozenset({"PID", "PV1", "ORC", "OBR", "OBX", "NTE", "SPM", "EVN", "NK1", "MSA", "QRD"})


def decode_text(raw: bytes) -> tuple[str, list[str]]:
    """Bytes → text: BOM removed, UTF-8 or (failing that) Latin-1, which every analyzer byte maps to."""
    warnings: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        warnings.append("not valid UTF-8; read as ISO-8859-1")
    return text.lstrip(BOM).replace(BOM, ""), warnings


def clean_lines(text: str) -> tuple[list[tuple[int, str]], list[str]]:
    """Segment lines with their 1-based line numbers: endings normalised, comments and blanks dropped,
    MLLP framing taken off (each framed message then starts at its MSH, as in any multi-message file)."""
    framed = _unframe(text)
    if framed is not None:
        unframed, warnings = clean_lines(framed[0])
        return unframed, [framed[1], *warnings]
    lines = _cr_lines(text)
    return (lines, []) if lines is not None else _tidied_lines(text)


def _unframe(text: str) -> tuple[str, str] | None:
    """The text without its MLLP frame marks, and a note saying so; None when the text is not framed."""
    if not _MLLP_FRAMED.match(text) or "\x1c" not in text:
        return None
    frames = text.count("\x0b")
    return _MLLP_MARKS.sub("", text), f"MLLP framing removed ({frames} framed message(s))"


def _cr_lines(text: str) -> list[tuple[int, str]] | None:
    """`clean_lines` of what MLLP brings, or None when the text needs `_tidied_lines`: with no LF, no
    literal "<cr>" and no line starting with a blank, '#' or '/', only empty lines are to be dropped."""
    if "\n" in text or ("<" in text and _LITERAL_CR_USED.search(text)):
        return None
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\r"), start=1):
        if not line:
            continue
        if line[0].isspace() or line[0] in "#/":
            return None
        lines.append((number, line))
    return lines


def _tidied_lines(text: str) -> tuple[list[tuple[int, str]], list[str]]:
    warnings: list[str] = []
    if _LITERAL_CR_USED.search(text):
        text = _LITERAL_CR.sub("\r", text)
        warnings.append("segment terminators written as literal '<cr>' text")
    lines: list[tuple[int, str]] = []
    in_block = False
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        stripped = line.strip()
        if in_block:
            in_block = "*/" not in stripped
            continue
        if stripped.startswith("/*"):
            in_block = "*/" not in stripped[2:]
            continue
        if not stripped or stripped.startswith(("#", "//")):
            continue
        lines.append((number, line.lstrip(" \t").rstrip("\r\n")))
    return lines, warnings


def is_segment(line: str) -> bool:
    return bool(_SEGMENT.match(line))


# A byte-level superset of what `detect` looks for (an MSH header or known segment ids followed by a
# non-alphanumeric separator), so inputs without a trace of HL7 are refused before any decoding.
_MAYBE_HL7 = re.compile(b"(?:MSH|" + b"|".join(s.encode() for s in sorted(KNOWN_SEGMENTS)) + b")(?![A-Za-z0-9])")


def may_contain_hl7(head: bytes) -> bool:
    """Cheap pre-check on raw bytes; NUL bytes (UTF-16 text) defer to the full check."""
    return b"\x00" in head or _MAYBE_HL7.search(head) is not None


def looks_like_segments(lines: list[tuple[int, str]]) -> bool:
    return sum(1 for _, line in lines[:200] if line[:3] in KNOWN_SEGMENTS and is_segment(line)) >= 2


def split_messages(lines: list[tuple[int, str]]) -> tuple[list[tuple[int, list[tuple[int, str]]]], list[str]]:
    """Group lines into messages, each beginning at an MSH line; lines before the first MSH are reported."""
    groups: list[tuple[int, list[tuple[int, str]]]] = []
    warnings: list[str] = []
    skipped = 0
    for number, line in lines:
        if line.startswith("MSH") and len(line) > 3 and not line[3].isalnum():
            groups.append((number, [(number, line)]))
        elif groups:
            groups[-1][1].append((number, line))
        else:
            skipped += 1
    if skipped:
        warnings.append(f"{skipped} line(s) before the first MSH ignored")
    return groups, warnings
