"""HL7 v2 (ER7) syntax for the hl7 adapter: delimiters, segments, escapes, values. Pure.

Text clean-up and message splitting come before, in `edge_agent.hl7.lines`.

Our own small tolerant reader instead of hl7apy or python-hl7: hl7apy validates against a
version's structure and rejects what analyzers really send (MSH-12 "2.3.z", Z-segments in odd
places, a field separator other than '|'); python-hl7 parses leniently but reports a broken
MSH-2 only as an exception deep in its splitter, and its unescape drops `\\.br\\`. Here every
refusal names the exact problem (for quarantine details and AE acknowledgements), and reading
stays fast on the MLLP ACK path. Tokens are split lazily; escapes are decoded per leaf value.
The common shapes (CR-only text, standard delimiters, segments without escapes, repetitions
or subcomponents) take shortcuts that give the general path's answer for less work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from edge_agent.errors import ParseError
from edge_agent.hl7.lines import KNOWN_SEGMENTS, is_segment
from shared_models import QuarantineReason


@dataclass(frozen=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation


STANDARD = Delimiters()
_STANDARD_HEADER = "|^~\\&|"  # MSH-1, MSH-2 and the separator after them, as STANDARD writes them


def delimiters_of(msh: str) -> Delimiters:
    """Delimiters declared by an MSH segment's first characters, or ParseError(BAD_DELIMITERS)."""
    if msh[3:9] == _STANDARD_HEADER:
        return STANDARD  # what nearly every analyzer declares, and passes every check below
    if len(msh) < 8:
        raise ParseError(QuarantineReason.MALFORMED, f"MSH segment too short to declare delimiters: {msh[:20]!r}")
    sep = msh[3]
    end = msh.find(sep, 4)
    enc = msh[4:] if end < 0 else msh[4:end]
    shown = f"MSH-1 {sep!r}, MSH-2 {enc!r}"
    if sep.isalnum() or sep.isspace():
        raise ParseError(QuarantineReason.BAD_DELIMITERS, f"{shown}: field separator must be a symbol")
    if len(enc) not in (4, 5):
        raise ParseError(
            QuarantineReason.BAD_DELIMITERS,
            f"{shown}: {len(enc)} encoding characters; HL7 needs 4 (component, repetition, escape, "
            "subcomponent) or 5 with truncation",
        )
    chars = sep + enc
    repeated = sorted({c for c in chars if chars.count(c) > 1})
    if repeated:
        raise ParseError(
            QuarantineReason.BAD_DELIMITERS,
            f"{shown}: {''.join(repeated)!r} used for more than one delimiter; they must all differ",
        )
    bad = [c for c in enc if c.isalnum() or c.isspace()]
    if bad:
        raise ParseError(QuarantineReason.BAD_DELIMITERS, f"{shown}: {bad[0]!r} cannot be a delimiter")
    return Delimiters(sep, enc[0], enc[1], enc[2], enc[3], enc[4:5])


@dataclass
class Segment:
    """One segment; `field(n)` uses HL7 numbering (for MSH, field 1 is the field separator)."""

    name: str
    fields: list[str]  # fields[0] is the segment name
    delims: Delimiters
    line: int
    # No escape, repetition or subcomponent character in any field (most OBX, as analyzers send
    # them): a leaf is then a component of the raw field as is. `read_message` sets it; False
    # (the general path) is always right, and MSH never has it (fields are numbered from MSH-2).
    plain: bool = field(default=False, repr=False, compare=False)
    # (field, repetition) -> components split into subcomponents: results read each OBX field
    # several times (code, name, system, units...), so it is split once.
    _split: dict[tuple[int, int], list[list[str]]] = field(default_factory=dict, repr=False, compare=False)

    def field(self, n: int) -> str:
        if self.name == "MSH":
            if n == 1:
                return self.delims.field
            n -= 1
        return self.fields[n] if 0 <= n < len(self.fields) else ""

    def reps(self, n: int) -> list[str]:
        if self.plain:  # a field is its own only repetition
            value = self.fields[n] if 0 <= n < len(self.fields) else ""
            return [value] if value else []
        raw = self.field(n)
        if self.name == "MSH" and n == 2:
            return [raw]
        return raw.split(self.delims.repetition) if raw else []

    def get(self, n: int, comp: int = 1, sub: int = 1, rep: int = 0) -> str:
        """Decoded leaf value (1-based component and subcomponent), '' when absent."""
        if self.plain and rep == 0 and sub == 1 and comp >= 1:
            # Nothing to decode nor pick but the component; most values (NM, units, flags,
            # timestamps) have a single one, read without splitting.
            value = self.fields[n] if 0 <= n < len(self.fields) else ""
            separator = self.delims.component
            if separator not in value:
                return value.strip() if comp == 1 else ""
            comps = value.split(separator)
            return comps[comp - 1].strip() if comp <= len(comps) else ""
        if rep == 0:
            # Most fields hold one plain value: read it without splitting; same answer as the
            # general path below, at a fraction of the cost (MSH too: MSH-2 never gets here).
            value = self.field(n)
            d = self.delims
            if d.component not in value and d.repetition not in value and d.subcomponent not in value:
                return unescape(value, d).strip() if comp == 1 and sub == 1 else ""
        parts = self._split.get((n, rep))
        if parts is None:
            reps = self.reps(n)
            d = self.delims
            parts = [c.split(d.subcomponent) for c in reps[rep].split(d.component)] if rep < len(reps) else []
            self._split[(n, rep)] = parts
        if comp > len(parts):
            return ""
        subs = parts[comp - 1]
        return unescape(subs[sub - 1], self.delims).strip() if sub <= len(subs) else ""

    def leaves(self, n: int) -> list[str]:
        """`get(n, 1)`, `get(n, 2)`... up to the last component sent, in one call (CE/CWE fields)."""
        if self.plain:
            value = self.fields[n] if 0 <= n < len(self.fields) else ""
            return list(map(str.strip, value.split(self.delims.component))) if value else []
        reps = self.reps(n)
        return components(reps[0], self.delims) if reps else []

    def each(self, n: int, comp: int = 1) -> list[str]:
        """The non-empty `get(n, comp)` of every repetition of field `n`, in order."""
        if self.plain:  # one repetition at most
            leaf = self.get(n, comp)
            return [leaf] if leaf else []
        leaves = (self.get(n, comp, rep=i) for i in range(len(self.reps(n))))
        return [leaf for leaf in leaves if leaf]

    def text(self, n: int) -> str:
        """The whole field with escapes decoded, delimiters kept as sent."""
        if self.plain:  # nothing to decode
            return self.fields[n] if 0 <= n < len(self.fields) else ""
        return unescape(self.field(n), self.delims, keep_delimiters=True)


def leaf(value: str, delims: Delimiters, comp: int = 1, sub: int = 1) -> str:
    comps = value.split(delims.component)
    if comp > len(comps):
        return ""
    subs = comps[comp - 1].split(delims.subcomponent)
    return unescape(subs[sub - 1], delims).strip() if sub <= len(subs) else ""


def components(value: str, delims: Delimiters) -> list[str]:
    return [unescape(c.split(delims.subcomponent)[0], delims).strip() for c in value.split(delims.component)]


@dataclass
class Message:
    segments: list[Segment]
    delims: Delimiters
    line: int  # line of the MSH in the cleaned input, 1-based
    warnings: list[str] = field(default_factory=list)

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)


def unescape(value: str, delims: Delimiters, keep_delimiters: bool = False) -> str:
    r"""Decode \F\ \S\ \T\ \R\ \E\ \P\ \Xhh..\ \.br\ (and drop highlighting/charset switches)."""
    esc = delims.escape
    if esc not in value:
        return value
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        end = value.find(esc, i + 1) if ch == esc else -1
        if end < 0:
            out.append(ch)
            i += 1
            continue
        out.append(_escape(value[i + 1 : end], delims, value[i : end + 1]))
        i = end + 1
    return "".join(out)


def _escape(code: str, d: Delimiters, original: str) -> str:
    simple = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}
    if d.truncation:
        simple["P"] = d.truncation
    if code in simple:
        return simple[code]
    if code in ("H", "N") or code[:1] in ("C", "M", "Z"):
        return ""  # highlighting on/off, character-set switches, local escapes: no text of their own
    if code[:1] == "X" and len(code) % 2 == 1 and re.fullmatch(r"[0-9A-Fa-f]*", code[1:]):
        data = bytes.fromhex(code[1:])
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    if code in (".br", ".sp"):
        return "\n"
    if code.startswith((".in", ".ti", ".sk", ".ce", ".fi", ".nf")):
        return ""
    return original  # not an escape sequence: keep the text exactly as sent


def read_message(first_line: int, lines: list[tuple[int, str]]) -> Message:
    """One message's lines → Message, using the delimiters its MSH declares."""
    delims = delimiters_of(lines[0][1])
    sep, escape, repetition, subcomponent = delims.field, delims.escape, delims.repetition, delims.subcomponent
    segments: list[Segment] = []
    warnings: list[str] = []
    for number, line in lines:
        name = line[:3]
        # A known id followed by the declared separator is a segment: no need for the regex.
        known = name in KNOWN_SEGMENTS and line[3:4] == sep
        if not known and (not is_segment(line) or (len(line) > 3 and line[3] != sep)):
            warnings.append(f"line {number} is not an HL7 segment; ignored")
            continue
        if name in ("BHS", "BTS", "FHS", "FTS"):
            continue  # batch envelopes carry no clinical content
        parts = line.split(sep)
        if name == "MSH":
            parts = ["MSH", *parts[1:]]
        # Not for MSH, even a bare "MSH" line: its field numbering is not that of `fields`.
        plain = name != "MSH" and escape not in line and repetition not in line and subcomponent not in line
        segments.append(Segment(name, parts, delims, number, plain))
    return Message(segments, delims, first_line, warnings)


_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?\s*([+-]\d{4})?")


@lru_cache(maxsize=256)  # analyzers repeat the same few timestamps (OBX-14, OBR-7, MSH-7) in a message
def parse_timestamp(value: str) -> datetime | None:
    """HL7/ASTM TS 'YYYY[MM[DD[HH[MM[SS[.S]]]]]][+ZZZZ]' → datetime (aware when an offset is sent)."""
    match = _TS.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        tz = None
        if offset:
            sign = 1 if offset[0] == "+" else -1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        return datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz
        )
    except ValueError:
        return None


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_number(value: str) -> float | None:
    """A plain number as written ('5.5', ' 24.2', '-2.0'); None for '<0.5', '---', 'LL', ''."""
    text = value.strip()
    if text.replace(".", "", 1).isdecimal():
        return float(text)  # digits with at most one point (the usual result): a match for _NUMBER
    return float(text) if _NUMBER.match(text) else None
