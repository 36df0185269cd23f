"""HL7 v2 adapter: files and MLLP messages (ER7) → envelopes, one per message.

What each message becomes (documented in docs/analyzers.md):
- ORU (R01...) and OUL (R22...) results → kind "observations" with `lab` readings;
- ADT A01/A03/A04/A08 → kind "patient_update" carrying PID demographics;
- ORM/OML/ORL/OMG/OMB orders → kind "order" with the order ids in `context`;
- any other message type (ADT A24, BAR, QRY, ACK, ERP...) → kind "observations" without
  readings, `context["message_type"]` saying what it is, and a warning: kept, never forced
  into results.
A file may hold several messages (comments, blank lines, BOM, CR/LF/CRLF, literal "<cr>"
are tolerated). A message whose MSH declares unusable delimiters is refused with
BAD_DELIMITERS; in a multi-message file the others are still read and each envelope warns
about the skipped one. Input with HL7 segments but no MSH is MALFORMED.
"""

from __future__ import annotations

from typing import ClassVar

from edge_agent.adapters._common import looks_binary
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.adapters.hl7.results import lab_readings
from edge_agent.errors import ParseError
from edge_agent.hl7.lines import (
    clean_lines,
    decode_text,
    is_segment,
    looks_like_segments,
    may_contain_hl7,
    split_messages,
)
from edge_agent.hl7.syntax import Message, parse_timestamp, read_message
from shared_models import Demographics, DeviceInfo, PatientRef, QuarantineReason

MEDIA_TYPE = "x-application/hl7-v2+er7"
RESULTS = {"ORU", "OUL"}
ORDERS = {"ORM", "OML", "ORL", "OMG", "OMB", "OMD", "OMS", "OMN", "OMI", "OMP", "RDE"}
PATIENT_EVENTS = {"A01", "A03", "A04", "A08"}
_SNIFF_BYTES = 8192


class Hl7Adapter:
    name: ClassVar[str] = "hl7"
    version: ClassVar[str] = "1.0.0"

    def detect(self, raw: bytes, name: str) -> float:
        if looks_binary(raw) or not may_contain_hl7(raw[:_SNIFF_BYTES]):  # no trace of HL7: stop before decoding
            return 0.0
        if _starts_with_msh(raw):  # what MLLP brings: decided without decoding and cleaning the lines
            return 0.95
        text, _ = decode_text(raw[:_SNIFF_BYTES])
        lines, _ = clean_lines(text)
        if not lines:
            return 0.0
        first = lines[0][1]
        if first.startswith("MSH") and len(first) > 8 and not first[3].isalnum():
            return 0.95
        if any(line.startswith("MSH") and len(line) > 8 and not line[3].isalnum() for _, line in lines[:50]):
            return 0.9
        if looks_like_segments(lines):
            return 0.6  # HL7 segments without a header: ours to refuse with a precise reason
        return 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        text, warnings = decode_text(raw)
        lines, cleaning = clean_lines(text)
        warnings += cleaning
        groups, skipped = split_messages(lines)
        if not groups:
            found = sorted({line[:3] for _, line in lines if is_segment(line)})[:6]
            raise ParseError(QuarantineReason.MALFORMED, f"no MSH segment; found segments {', '.join(found)}")
        warnings += skipped
        items: list[Parsed] = []
        refused: list[tuple[int, ParseError]] = []
        for index, (first_line, group) in enumerate(groups, start=1):
            try:
                message = read_message(first_line, group)
                items.append(to_parsed(message, warnings))
            except ParseError as exc:
                if len(groups) == 1:
                    raise
                refused.append((index, ParseError(exc.reason, f"message {index} (line {first_line}): {exc.detail}")))
        if not items:
            _, first_error = refused[0]
            raise ParseError(first_error.reason, f"no readable message; {first_error.detail}")
        notes = [
            f"{len(groups)} messages, {len(refused)} not read: {err.reason.value}: {err.detail}" for _, err in refused
        ]
        for item in items:
            item.warnings.extend(notes)
        return items


def _starts_with_msh(raw: bytes) -> bool:
    """The first line is an MSH with a symbol as field separator and more than 8 characters: the
    answer `detect` reads from the cleaned text, when its first 9 bytes are plain ASCII (then
    neither decoding, BOM removal nor line clean-up can change them)."""
    head = raw[:9]
    return (
        len(head) == 9
        and head.isascii()
        and head.startswith(b"MSH")
        and not head[3:4].isalnum()
        and not any(
            c in head
            for c in b"\r\n<"  # a line end, or a literal "<cr>" that clean-up turns into one
        )
    )


def to_parsed(message: Message, file_warnings: list[str]) -> Parsed:
    msh = message.msh
    family, trigger = msh.get(9, 1).upper(), msh.get(9, 2).upper()
    message_type = f"{family}^{trigger}" if trigger else family
    application, facility = msh.get(3), msh.get(4)
    context = {
        "message_type": message_type,
        "message_control_id": msh.get(10),
        "hl7_version": msh.get(12),
        "processing_id": msh.get(11),
        "sending_application": application,
        "sending_facility": facility,
    }
    parsed = Parsed(
        kind="observations",
        patient=_patient(message),
        device=DeviceInfo(vendor=facility or None, model=application or None),
        captured_at=parse_timestamp(msh.get(7)),
        warnings=[*file_warnings, *message.warnings],
        media_type=MEDIA_TYPE,
        context={k: v for k, v in context.items() if v},
    )
    if family in RESULTS:
        readings, notes, warnings = lab_readings(message, application or None)
        parsed.readings = list(readings)
        parsed.device.kind = "lab_analyzer"
        parsed.warnings += warnings
        if notes:
            parsed.context["notes"] = "\n".join(notes)
    elif family == "ADT" and (trigger or _event(message)) in PATIENT_EVENTS:
        parsed.kind = "patient_update"
        parsed.patient.demographics = _demographics(message)
        parsed.context["event"] = trigger or _event(message)
    elif family in ORDERS:
        parsed.kind = "order"
        parsed.context.update(_orders(message))
    else:
        parsed.warnings.append(f"HL7 {message_type} is not a result, order or patient update; kept without readings")
    return parsed


def _event(message: Message) -> str:
    evn = message.first("EVN")
    return evn.get(1).upper() if evn else ""


def _patient(message: Message) -> PatientRef:
    pid = message.first("PID")
    if pid is None:
        return PatientRef()
    ids = pid.each(3) or [i for i in (pid.get(2), pid.get(4)) if i]
    return PatientRef(id=ids[0], id_source="hl7_pid") if ids else PatientRef()


def _demographics(message: Message) -> Demographics | None:
    pid = message.first("PID")
    if pid is None:
        return None
    birth = parse_timestamp(pid.get(7))
    return Demographics(
        family_name=pid.get(5, 1) or None,
        given_name=pid.get(5, 2) or None,
        birth_date=birth.date().isoformat() if birth else None,
        sex=pid.get(8) or None,
        other_ids=pid.each(3)[1:],
    )


def _orders(message: Message) -> dict[str, str]:
    placer, filler, tests, controls = [], [], [], []
    for orc in message.all("ORC"):
        controls.append(orc.get(1))
        placer.append(orc.get(2))
        filler.append(orc.get(3))
    for obr in message.all("OBR"):
        placer.append(obr.get(2))
        filler.append(obr.get(3))
        tests.append("^".join(p for p in (obr.get(4, 1), obr.get(4, 2)) if p))
    found = {
        "order_control": controls,
        "placer_order_ids": placer,
        "filler_order_ids": filler,
        "tests": tests,
    }
    return {key: ",".join(dict.fromkeys(v for v in values if v)) for key, values in found.items() if any(values)}
