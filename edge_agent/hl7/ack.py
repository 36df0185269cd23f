"""HL7 v2 acknowledgements (original mode): ACK built with the received message's own delimiters. Pure.

MSA-2 echoes MSH-10 so the analyzer can match the ACK to what it sent. AE/AR carry the
reason in MSA-3 (read by older interfaces) and in an ERR segment (ERR-3 HL7 table 0357 code,
ERR-4 severity, ERR-8 the text for the user). A message whose MSH cannot be read still gets
an answer, with standard delimiters and an empty MSA-2, so the sender never waits blind.
"""

from __future__ import annotations

from datetime import datetime

from edge_agent.errors import ParseError
from edge_agent.hl7.lines import decode_text
from edge_agent.hl7.syntax import STANDARD, Delimiters, delimiters_of

# HL7 table 0357 (message error condition codes) for our quarantine reasons.
ERROR_CODES = {
    "malformed": ("102", "Data type error"),
    "bad_delimiters": ("102", "Data type error"),
    "unknown_format": ("200", "Unsupported message type"),
    "unsupported_variant": ("200", "Unsupported message type"),
    "no_readings": ("101", "Required field missing"),
}
INTERNAL = ("207", "Application internal error")
_HEAD_BYTES = 4096  # where the MSH is looked for
_MSH_FIELDS = 13  # MSH-0 (the name) to MSH-12 (version): the fields an ACK reads


def _first_line(message: bytes) -> str:
    """The first line of the text `decode_text` reads from the message's first 4 KiB."""
    head = message[:_HEAD_BYTES]
    if head.startswith(b"MSH"):
        line = head.split(b"\r", 1)[0].split(b"\n", 1)[0]
        if line.isascii():
            # What analyzers send. ASCII reads the same as UTF-8 and as Latin-1, and holds no BOM:
            # this line is the text's first whatever the rest of the message is, so the rest
            # need not be decoded (build_ack and control_id both read it, for every message).
            return line.decode("ascii")
    text, _ = decode_text(head)
    return text.lstrip().split("\r", 1)[0].split("\n", 1)[0]


def _msh(message: bytes) -> tuple[list[str], Delimiters]:
    line = _first_line(message)
    if not line.startswith("MSH") or len(line) < 8:
        return [], STANDARD
    try:
        delims = delimiters_of(line)
    except ParseError:
        # Unusable encoding characters: answer with standard ones, but the field separator
        # usually still splits MSH, so MSA-2 can still name the message.
        if line[3].isalnum() or line[3].isspace():
            return [], STANDARD
        return ["MSH", line[3], *line.split(line[3])[1:]], STANDARD
    parts = line.split(delims.field)
    return ["MSH", delims.field, *parts[1:]], delims


def control_id(message: bytes) -> str:
    """MSH-10 of `message` as sent ('' when unreadable)."""
    fields, _ = _msh(message)
    return fields[10] if len(fields) > 10 else ""


def _escape(text: str, d: Delimiters) -> str:
    if not text:
        return text  # an AA has nothing to explain
    out = text.replace(d.escape, f"{d.escape}E{d.escape}")
    for char, code in ((d.field, "F"), (d.component, "S"), (d.repetition, "R"), (d.subcomponent, "T")):
        out = out.replace(char, f"{d.escape}{code}{d.escape}")
    return out.replace("\r", " ").replace("\n", " ")


def _timestamp(now: datetime) -> str:
    """MSH-7, YYYYMMDDHHMMSS: what strftime writes, at a fraction of its cost (it is most of an ACK's)."""
    if now.year < 1000:
        return now.strftime("%Y%m%d%H%M%S")  # the C library may leave such years unpadded: keep its answer
    # printf-style: one C call, where f-string format specs cost one call per number.
    return "%04d%02d%02d%02d%02d%02d" % (now.year, now.month, now.day, now.hour, now.minute, now.second)  # noqa: UP031


def build_ack(
    message: bytes, code: str, *, now: datetime, ack_control_id: str, reason: str = "", detail: str = ""
) -> bytes:
    """ACK for `message` with acknowledgment `code` (AA, AE, AR); `reason`/`detail` explain AE/AR."""
    fields, d = _msh(message)
    f = [*fields, *[""] * (_MSH_FIELDS - len(fields))]  # '' for what the sender left out
    trigger = f[9].split(d.component)[1] if d.component in f[9] else ""
    msh = d.field.join(
        [
            "MSH",
            d.encoding_characters,
            f[5],  # we answer as the application the sender addressed
            f[6],
            f[3],
            f[4],
            _timestamp(now),
            "",
            d.component.join(["ACK", trigger, "ACK"]) if trigger else "ACK",
            ack_control_id,
            f[11] or "P",
            f[12] or "2.5.1",
        ]
    )
    text = _escape(f"{reason}: {detail}" if reason else detail, d)[:200]
    segments = [msh, d.field.join(["MSA", code, f[10], text] if text else ["MSA", code, f[10]])]
    if code != "AA":
        number, label = ERROR_CODES.get(reason, INTERNAL)
        condition = d.component.join([number, label, "HL70357"])
        segments.append(d.field.join(["ERR", "", "", condition, "E", "", "", "", text]))
    return ("\r".join(segments) + "\r").encode("utf-8")
