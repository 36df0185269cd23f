"""The analyzer order (services/lab_order.py) survives any test name and patient id: whatever the text, the
agent's own HL7 parser reads back the same specimen, codes, names and patient id (escaping is complete)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.services.lab_order import OrderPatient, escape, oml_o21
from edge_agent.hl7.lines import clean_lines, decode_text, split_messages
from edge_agent.hl7.syntax import Message, read_message, unescape

AT = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
# What the API lets through: printable text, surrounding whitespace stripped (RequestModel), no line breaks.
text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"), min_size=1,
               max_size=40).map(str.strip).filter(bool)  # fmt: skip
codes = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,31}", fullmatch=True)


def _read(message: str) -> Message:
    decoded, _ = decode_text(message.encode())
    lines, _ = clean_lines(decoded)
    [(first, group)], _ = split_messages(lines)
    return read_message(first, group)


@given(patient_id=text, tests=st.lists(st.tuples(codes, text), min_size=1, max_size=5), urgency=st.sampled_from(
    ["NORMAL", "URGENT", "STAT"]))  # fmt: skip
def test_the_parser_reads_back_what_the_order_says(patient_id: str, tests: list[tuple[str, str]], urgency: str) -> None:
    message = oml_o21(clinic_id="demo", control_id="C1", patient=OrderPatient(patient_id=patient_id),
                      specimen_id="L0000042", urgency=urgency, tests=tests, requested_at=AT, now=AT)  # fmt: skip
    parsed = _read(message)
    [pid] = parsed.all("PID")
    assert pid.get(3) == patient_id
    obrs = parsed.all("OBR")
    assert [(obr.get(2), obr.get(3)) for obr in obrs] == [("L0000042", "L0000042")] * len(tests)
    assert [(obr.get(4, 1), obr.get(4, 2)) for obr in obrs] == tests
    assert [spm.get(2) for spm in parsed.all("SPM")] == ["L0000042"] * len(tests)
    assert {tq1.get(9) for tq1 in parsed.all("TQ1")} == {{"NORMAL": "R", "URGENT": "A", "STAT": "S"}[urgency]}


def test_escape_covers_every_delimiter() -> None:
    assert escape("a|b^c&d~e\\f") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
    assert unescape(escape("a|b^c&d~e\\f"), _read(oml_o21(
        clinic_id="x", control_id="c", patient=OrderPatient("p"), specimen_id="L1", urgency="NORMAL",
        tests=[("A", "a")], requested_at=AT, now=AT)).msh.delims) == "a|b^c&d~e\\f"  # fmt: skip
