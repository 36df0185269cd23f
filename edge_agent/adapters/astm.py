"""ASTM E1394 / LIS2-A2 adapter: analyzer transcripts (E1381-framed) and unframed record files → envelopes.

One envelope per message (H ... L). What each message becomes:
- with R (result) records → kind "observations", one `lab` reading per R record, carrying the
  specimen id of its O record, the instrument (R-14, else the H record's sender) and the C
  (comment) records that follow it; its code and name come from the Universal Test ID by the
  analyzer family's rule (`FAMILY_RULES`: component 4, and name 5, unless a family needs more);
- with O (order) records and no results → kind "order" (specimen ids and tests in context);
- Q (query) only → kind "observations" without readings, context "queries", and a warning.
M (manufacturer) records are kept raw in `context["manufacturer_records"]`.
Proprietary outputs that merely use STX/ETX (bioMérieux mini VIDAS, Arkray Spotchem) are
recognised here and refused with NOT_ASTM, so they never pass for unknown bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from edge_agent.adapters._common import looks_binary
from edge_agent.adapters.astm_records import Record, is_record, parse_records, split_records
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.errors import ParseError
from edge_agent.framing.astm_e1381 import STX
from edge_agent.framing.astm_transcript import unframe
from edge_agent.hl7.syntax import parse_number, parse_timestamp
from shared_models import DeviceInfo, LabObservation, PatientRef, QuarantineReason

MEDIA_TYPE = "application/x-astm-e1394"
_FRAMED = re.compile(rb"\x02[0-7][HPOQRCMLS][^A-Za-z0-9]")
_HEADER = re.compile(r"^\s*(?:#[^\n]*\n\s*)*H[^A-Za-z0-9\s]{4}", re.MULTILINE)
_RECORD_LINE = re.compile(r"^[HPOQRCML]\|\d*", re.MULTILINE)
_LOINC = re.compile(r"^\d{1,7}-\d$")
_NOT_ASTM = {
    b"\x02\x1e": "bioMerieux VIDAS proprietary record (RS-separated '|^^' fields)",
}
_SPOTCHEM = re.compile(rb"^\x02\d\d/\d\d/\d\d \d\d:\d\d ID#")


class AstmAdapter:
    name: ClassVar[str] = "astm"
    version: ClassVar[str] = "1.0.0"

    def detect(self, raw: bytes, name: str) -> float:
        if looks_binary(raw):  # images and containers are never E1394 text
            return 0.0
        head = raw[:4096]
        if _FRAMED.search(head):
            return 0.95
        text = head.decode("latin-1")
        if _HEADER.match(text):
            return 0.9
        if head.lstrip()[:1] == STX:
            return 0.5  # STX-framed but not E1394: ours to refuse as not_astm (real device adapters score higher)
        if len(_RECORD_LINE.findall(text)) >= 1 and is_record(text.lstrip()[:2]):
            return 0.6  # headerless record fragments (O|1|..., R|1|...)
        return 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        text, warnings = _records_text(raw)
        lines, skipped = split_records(text)
        warnings += skipped
        if not lines:
            raise ParseError(QuarantineReason.MALFORMED, "no ASTM records found")
        messages, notes = parse_records(lines)
        warnings += notes
        return [_message(records, warnings) for records in messages if records]


def _records_text(raw: bytes) -> tuple[str, list[str]]:
    stripped = raw.lstrip()
    if stripped[:1] == STX and not _FRAMED.search(raw[:4096]):
        raise ParseError(QuarantineReason.NOT_ASTM, _proprietary(stripped))
    warnings: list[str] = []
    if _FRAMED.search(raw):
        transcript = unframe(raw)
        if transcript.bad_checksums:
            raise ParseError(
                QuarantineReason.MALFORMED, "bad frame checksum: " + "; ".join(transcript.bad_checksums[:3])
            )
        if transcript.sequence_breaks:
            warnings.append("frame numbers out of sequence: " + "; ".join(transcript.sequence_breaks[:3]))
        data = transcript.text
    else:
        data = raw
    try:
        return data.decode("utf-8"), warnings
    except UnicodeDecodeError:
        return data.decode("latin-1"), [*warnings, "not valid UTF-8; read as ISO-8859-1"]


def _proprietary(data: bytes) -> str:
    for prefix, what in _NOT_ASTM.items():
        if data.startswith(prefix):
            return f"{what}; not ASTM E1394"
    if _SPOTCHEM.match(data):
        return "Arkray Spotchem printout text framed in STX/ETX (no E1394 records); not ASTM E1394"
    return f"STX-framed data without E1381 frame numbers or E1394 records (starts {data[:12]!r}); not ASTM E1394"


def _message(records: list[Record], file_warnings: list[str]) -> Parsed:
    header = records[0] if records[0].kind == "H" else None
    instrument = header.get(5) or None if header else None
    rule = test_id_rule("^".join(header.components(5)) if header else "")
    context: dict[str, str] = {}
    warnings = list(file_warnings)
    if header is not None:
        context.update(_header_context(header))
        if header.get(12) == "Q":
            warnings.append("quality-control results (H-12 processing id Q)")
    readings: list[LabObservation] = []
    patient = PatientRef()
    specimen: str | None = None
    orders: list[tuple[str, str]] = []
    notes: list[str] = []
    manufacturer: list[str] = []
    queries: list[str] = []
    for record in records:
        if record.kind == "P":
            pid = record.get(3) or record.get(4) or record.get(5)
            patient = PatientRef(id=pid, id_source="astm_p") if pid else PatientRef()
        elif record.kind == "O":
            ids = [_first(record.components(3, i)) for i in range(len(record.repeats(3)))]
            ids = [i for i in ids if i] or [_first(record.components(4))]
            specimen = ids[0] or None
            tests = [_test_code(record.components(5, i), rule)[0] for i in range(len(record.repeats(5)))]
            orders.append((",".join(i for i in ids if i), ",".join(t for t in tests if t) or record.text(5)))
        elif record.kind == "R":
            readings.append(_result(record, specimen, instrument, rule))
        elif record.kind == "C":
            comment = record.text(4)
            if comment:
                (readings[-1].comments if readings and _after_result(records, record) else notes).append(comment)
        elif record.kind == "M":
            manufacturer.append(record.raw)
        elif record.kind == "Q":
            queries.append(record.text(3))
        elif record.kind == "L" and record.get(3) not in ("", "N"):
            warnings.append(f"terminator code {record.get(3)!r} (not N: transfer ended abnormally)")
    if notes:
        context["notes"] = "\n".join(notes)
    if manufacturer:
        context["manufacturer_records"] = "\r".join(manufacturer)
    kind = "observations"
    if not readings and orders:
        kind = "order"
        context["specimen_ids"] = ",".join(dict.fromkeys(s for s, _ in orders if s))
        context["tests"] = ",".join(t for _, t in orders if t)
    elif not readings:
        if queries:
            context["queries"] = "; ".join(queries)
        warnings.append("no result (R) records")
    return Parsed(
        kind=kind,
        patient=patient,
        device=DeviceInfo(model=instrument, kind="lab_analyzer"),
        captured_at=parse_timestamp(header.get(14)) if header else None,
        readings=list(readings),
        warnings=warnings,
        media_type=MEDIA_TYPE,
        context=context,
    )


def _header_context(header: Record) -> dict[str, str]:
    found = {
        "sender": "^".join(header.components(5)).strip("^"),
        "processing_id": header.get(12),
        "astm_version": header.get(13),
        "message_control_id": header.get(3),
    }
    return {k: v for k, v in found.items() if v}


def _after_result(records: list[Record], comment: Record) -> bool:
    """A C record belongs to the nearest R before it, unless an O or P came in between."""
    index = next(i for i, r in enumerate(records) if r is comment)
    for previous in reversed(records[:index]):
        if previous.kind == "R":
            return True
        if previous.kind in ("O", "P", "H"):
            return False
    return False


def _first(parts: list[str]) -> str:
    return next((p for p in parts if p), "")


@dataclass(frozen=True)
class TestIdRule:
    """Which components of a Universal Test ID (E1394 R-3, O-5; 1-based) make a result's code and name."""

    code: tuple[int, ...]  # their non-empty values, joined with '^', are the code
    name: tuple[int, ...] = (5, 2)  # the first of these holding a value that is not a LOINC code or a number


# In E1394 component 4 is the manufacturer's test code; analyzers put the assay name after it, then
# whatever they like (dilution, status, reagent lot), which must not change a result's code.
_DEFAULT_RULE = TestIdRule(code=(4,))
# Sysmex leaves component 4 empty and sends its code in 5 (dilution in 6): '^^^^WBC^1'.
_SHIFTED_RULE = TestIdRule(code=(5,), name=(2,))
# Families whose results one component does not tell apart, by a marker in the H record's sender (H-5).
FAMILY_RULES: tuple[tuple[str, TestIdRule], ...] = (
    # Cepheid GeneXpert: '^MTB-RIF^^Xpert^Xpert MTB-RIF Ultra^4^MTB^Ct' is host test code (4), assay
    # name (5), assay version (6), analyte (7) and result kind (8: Ct, EndPt, or empty for the call).
    ("GeneXpert", TestIdRule(code=(4, 7, 8))),
    # Phadia ImmunoCAP: '^^^t2^sIgE^1' is the allergen (4) and the antibody measured (5: sIgE, sIgG4),
    # both needed: one sample is often tested for sIgE and sIgG4 against the same allergen.
    ("Phadia", TestIdRule(code=(4, 5), name=(2,))),
)


def test_id_rule(sender: str) -> TestIdRule:
    """The rule for an analyzer, from its H record's sender (H-5, components joined)."""
    return next((rule for marker, rule in FAMILY_RULES if marker in sender), _DEFAULT_RULE)


def _test_code(parts: list[str], rule: TestIdRule = _DEFAULT_RULE) -> tuple[str, str | None, str | None]:
    """(code, name, LOINC) from a Universal Test ID's components, by the analyzer family's rule.

    A LOINC code in component 4 or later (Horiba: '^^^WBC^804-5^1', code, LOINC, dilution) is
    the LOINC, never part of the code or the name. Component 1 (the universal test id proper,
    rarely sent) is the code when the rule finds none.
    """
    padded = [*parts, *[""] * max(0, 9 - len(parts))]
    loinc = next((p for p in padded[3:] if _LOINC.match(p)), None)

    def value(component: int) -> str:
        part = padded[component - 1]
        return "" if part == loinc else part

    if rule is _DEFAULT_RULE and not value(4):
        rule = _SHIFTED_RULE
    code = "^".join(v for v in (value(c) for c in rule.code) if v)
    named = (value(c) for c in rule.name if c not in rule.code)
    name = next((v for v in named if v and not v.replace(".", "", 1).isdigit()), None)
    return code or padded[0] or (name or ""), name, loinc


def _result(record: Record, specimen: str | None, instrument: str | None, rule: TestIdRule) -> LabObservation:
    code, name, loinc = _test_code(record.components(3), rule)
    value = "^".join(p for p in record.components(4) if p)
    flags = [f for i in range(len(record.repeats(7))) for f in record.components(7, i)[:1] if f]
    extra = {"loinc": loinc} if loinc else {}
    return LabObservation(
        code=code,
        code_system="local",
        name=name,
        value=value,
        numeric=parse_number(value),
        unit=record.get(5) or None,
        reference_range=record.get(6) or None,
        flags=flags,
        status=record.get(9) or None,
        specimen_id=specimen,
        observed_at=parse_timestamp(record.get(13)) or parse_timestamp(record.get(12)),
        instrument=record.get(14) or instrument,
        **extra,
    )
