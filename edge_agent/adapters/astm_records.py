"""ASTM E1394 / CLSI LIS2-A2 record syntax: delimiters from the H record, fields, escapes. Pure.

Field numbers follow the standard (`R-4` is the measurement value): `Record.field(4)`. The H
record declares the delimiters in its first five characters, `H|\\^&`: field, repeat,
component, escape. Escapes are `&F&` `&S&` `&R&` `&E&` (with the declared escape character)
and `&Xhh..&`. Values are space-padded by many analyzers (Sysmex): leaves are stripped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge_agent.errors import ParseError
from shared_models import QuarantineReason

RECORD_TYPES = frozenset("HPOQRCMLS")


@dataclass(frozen=True)
class AstmDelimiters:
    field: str = "|"
    repeat: str = "\\"
    component: str = "^"
    escape: str = "&"


STANDARD = AstmDelimiters()


def delimiters_of(header: str) -> AstmDelimiters:
    """Delimiters from an H record, or ParseError(BAD_DELIMITERS) naming the problem."""
    chars = header[1:5]
    if len(chars) < 4:
        raise ParseError(QuarantineReason.BAD_DELIMITERS, f"H record too short to declare delimiters: {header!r}")
    repeated = sorted({c for c in chars if chars.count(c) > 1})
    if repeated:
        raise ParseError(
            QuarantineReason.BAD_DELIMITERS, f"H record declares {chars!r}: {''.join(repeated)!r} repeated"
        )
    if any(c.isalnum() or c.isspace() for c in chars):
        raise ParseError(QuarantineReason.BAD_DELIMITERS, f"H record declares {chars!r}: delimiters must be symbols")
    return AstmDelimiters(field=chars[0], repeat=chars[1], component=chars[2], escape=chars[3])


@dataclass
class Record:
    kind: str  # H P O R C M Q L (S: scientific)
    raw: str
    fields: list[str]
    delims: AstmDelimiters

    def field(self, n: int) -> str:
        """Raw field n (1-based: field 1 is the record type). For H, field 2 is the delimiter set."""
        if self.kind == "H" and n == 2:
            return self.raw[2:5]
        return self.fields[n - 1] if 0 < n <= len(self.fields) else ""

    def repeats(self, n: int) -> list[str]:
        raw = self.field(n)
        return raw.split(self.delims.repeat) if raw else []

    def components(self, n: int, rep: int = 0) -> list[str]:
        reps = self.repeats(n)
        if rep >= len(reps):
            return []
        return [unescape(c, self.delims).strip() for c in reps[rep].split(self.delims.component)]

    def get(self, n: int, comp: int = 1, rep: int = 0) -> str:
        parts = self.components(n, rep)
        return parts[comp - 1] if comp <= len(parts) else ""

    def text(self, n: int) -> str:
        """Non-empty components of every repeat, joined by spaces: what a person reads."""
        words = [c for i in range(len(self.repeats(n))) for c in self.components(n, i) if c]
        return " ".join(words)


def unescape(value: str, d: AstmDelimiters) -> str:
    esc = d.escape
    if esc not in value:
        return value
    table = {"F": d.field, "S": d.component, "R": d.repeat, "E": d.escape}

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in table:
            return table[code]
        if code[:1] == "X" and len(code) % 2 == 1:
            try:
                return bytes.fromhex(code[1:]).decode("latin-1")
            except ValueError:
                return match.group(0)
        return match.group(0)

    return re.sub(f"{re.escape(esc)}([A-Z][0-9A-Fa-f]*){re.escape(esc)}", replace, value)


def split_records(text: str) -> tuple[list[str], list[str]]:
    """Record lines of an unframed or unframed-from-transcript text; comment lines ('#') dropped."""
    records: list[str] = []
    warnings: list[str] = []
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not is_record(line):
            warnings.append(f"line {number} is not an ASTM record; ignored")
            continue
        records.append(line)
    return records, warnings


def is_record(line: str) -> bool:
    return len(line) >= 1 and line[0] in RECORD_TYPES and (len(line) == 1 or not line[1].isalnum())


def parse_records(lines: list[str]) -> tuple[list[list[Record]], list[str]]:
    """Group records into messages (each H starts one) using the delimiters its H declares."""
    messages: list[list[Record]] = []
    warnings: list[str] = []
    delims = STANDARD
    if lines and lines[0][0] != "H":
        warnings.append("no H (header) record: standard delimiters |\\^& assumed")
        messages.append([])
    for line in lines:
        if line[0] == "H":
            delims = delimiters_of(line)
            messages.append([])
        fields = line.split(delims.field)
        messages[-1].append(Record(line[0], line, fields, delims))
    return messages, warnings
