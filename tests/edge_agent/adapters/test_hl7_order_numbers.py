"""Lab results keep their order's numbers: OBR-2 (placer), OBR-3 (filler), OBR-4.1 (the ordered test) and the
specimen (SPM-2, else OBR-3), which the cloud matches against a lab request's specimen id and tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from edge_agent.adapters.base import ParseContext
from edge_agent.adapters.hl7 import Hl7Adapter

CTX = ParseContext(name="x.hl7", now=datetime(2026, 1, 1, tzinfo=UTC))


def test_nist_cbc_keeps_placer_filler_and_panel_code(corpus_dir: Path) -> None:
    # OBR|1|ORD666555^NIST EHR|R-991133^NIST Lab Filler|57021-8^CBC W Auto Differential panel in Blood^LN...
    raw = (corpus_dir / "hl7" / "microsoft__FHIR-Converter__LRI_2.0-NG_CBC_Typ_Message.hl7").read_bytes()
    [parsed] = Hl7Adapter().parse(raw, CTX)
    leukocytes = next(r for r in parsed.readings if getattr(r, "code", "") == "26464-8")
    assert (leukocytes.placer_order_id, leukocytes.filler_order_id, leukocytes.order_code) == (
        "ORD666555", "R-991133", "57021-8",
    )  # fmt: skip
    # Its SPM names no specimen id (SPM-2 empty): only OBR-2/OBR-3 can link these results to a request.
    assert leukocytes.specimen_id is None and leukocytes.order_id == "ORD666555"
    assert leukocytes.flags == ["HH"]  # above the upper panic limit: what the cloud raises lab.critical for


def test_cepheid_keeps_the_spm_specimen_and_the_filler_number_apart(corpus_dir: Path) -> None:
    # OBR|2||N20V000174-01-4063^STARLIMS...|94500-6^SARS coronavirus 2 RNA^LN...  SPM|1|^N20000174&STARLIMS...
    raw = (
        corpus_dir / "hl7" / "CDCgov__data-exchange-hl7__TN_PHLIP251_COVID_Cepheid_Xpert_Xpress-Pos.hl7"
    ).read_bytes()
    [parsed] = Hl7Adapter().parse(raw, CTX)
    sars = next(r for r in parsed.readings if getattr(r, "code", "") == "94500-6")
    assert sars.specimen_id == "N20000174"
    assert (sars.placer_order_id, sars.filler_order_id, sars.order_code) == (None, "N20V000174-01-4063", "94500-6")


def test_a_message_without_obr_has_no_order_numbers() -> None:
    raw = b"MSH|^~\\&|A|B|||20260101||ORU^R01|1|P|2.5.1\rPID|1||P1\rOBX|1|NM|GLU||5.4|mmol/L\r"
    [parsed] = Hl7Adapter().parse(raw, CTX)
    [glucose] = parsed.readings
    assert (glucose.placer_order_id, glucose.filler_order_id, glucose.order_code) == (None, None, None)
