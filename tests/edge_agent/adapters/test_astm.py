"""ASTM record details: delimiters from H, escapes, repeats, comments and M records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge_agent.adapters.astm import AstmAdapter
from edge_agent.adapters.astm_records import STANDARD, delimiters_of, unescape
from edge_agent.adapters.base import ParseContext
from edge_agent.errors import ParseError

CTX = ParseContext(name="x.astm", now=datetime(2026, 1, 1, tzinfo=UTC))


def test_escapes_use_the_declared_escape_character() -> None:
    assert unescape("a&F&b&S&c&R&d&E&e", STANDARD) == "a|b^c\\d&e"


def test_delimiters_come_from_the_header() -> None:
    d = delimiters_of("H|@^\\|ID")
    assert (d.field, d.repeat, d.component, d.escape) == ("|", "@", "^", "\\")
    with pytest.raises(ParseError) as err:
        delimiters_of("H||^&")
    assert err.value.reason.value == "bad_delimiters"


def test_records_with_other_delimiters_comments_and_manufacturer_records() -> None:
    raw = (
        b"H!@~%!!!ANALYZER~1.0\rP!1!PAT7\rO!1!S99\rR!1!~~~GLU!5.1!mmol/L!3.9 - 5.5!N@H\r"
        b"C!1!I!checked~twice\rM!1!RAW!x\rL!1!N\r"
    )
    (item,) = AstmAdapter().parse(raw, CTX)
    (r,) = item.readings
    assert item.patient.id == "PAT7" and r.specimen_id == "S99"  # type: ignore[union-attr]
    assert (r.code, r.numeric, r.flags, r.comments) == ("GLU", 5.1, ["N", "H"], ["checked twice"])  # type: ignore[union-attr]
    assert item.context["manufacturer_records"] == "M!1!RAW!x"


def test_corrupted_transcript_is_malformed() -> None:
    raw = b"\x021H|\\^&\r\x0300\r\n"
    with pytest.raises(ParseError) as err:
        AstmAdapter().parse(raw, CTX)
    assert err.value.reason.value == "malformed" and "checksum" in err.value.detail


def test_nidek_serial_output_is_not_claimed() -> None:
    assert AstmAdapter().detect(b"\x01Drm\x02IDNIDEK/ARK-1a\x17\nNO0225", "x") == 0


def _codes(sender: str, *test_ids: str) -> list[tuple[str, str | None, str | None]]:
    records = "".join(f"R|{n}|{test_id}|1.0|u\r" for n, test_id in enumerate(test_ids, start=1))
    (item,) = AstmAdapter().parse(f"H|\\^&|||{sender}\rP|1\rO|1|S1\r{records}L|1|N\r".encode(), CTX)
    return [(r.code, r.name, (r.model_extra or {}).get("loinc")) for r in item.readings]  # type: ignore[union-attr]


def test_universal_test_id_code_is_component_4_and_name_component_5() -> None:
    # What comes after the name (dilution, status, reagent lot) never changes the code.
    assert _codes("ANALYZER^1.0", "^^^NA^Sodium^1^F^LOT42", "^^^NA^Sodium^2^F^LOT43", "^^^K^Potassium") == [
        ("NA", "Sodium", None),
        ("NA", "Sodium", None),
        ("K", "Potassium", None),
    ]


def test_sysmex_code_in_component_5_and_horiba_loinc_in_component_5() -> None:
    assert _codes("XN-550^00-24", "^^^^WBC^1") == [("WBC", None, None)]  # Sysmex: shifted one right
    assert _codes("ABX", "^^^WBC^804-5^1", "^^^RDW-SD^21000-5") == [  # Horiba: code, LOINC, dilution
        ("WBC", None, "804-5"),
        ("RDW-SD", None, "21000-5"),
    ]


def test_cepheid_results_are_told_apart_by_analyte_and_result_kind_not_assay_version() -> None:
    sender = "Happy Hospital^GeneXpert^4.8"
    codes = _codes(
        sender,
        "^MTB-RIF^^Xpert^Xpert MTB-RIF Ultra^4^MTB^",
        "^MTB-RIF^^Xpert^^^rpoB1^",
        "^MTB-RIF^^Xpert^^^rpoB1^Ct",
        "^MTB-RIF^^Xpert^^^rpoB1^EndPt",
    )
    assert [c for c, _, _ in codes] == ["Xpert^MTB", "Xpert^rpoB1", "Xpert^rpoB1^Ct", "Xpert^rpoB1^EndPt"]
    assert codes[0][1] == "Xpert MTB-RIF Ultra" and codes[1][1] == "MTB-RIF"  # assay name, else the test name
    assert _codes(sender, "^MTB-RIF^^Xpert^Xpert MTB-RIF Ultra^5^MTB^")[0][0] == "Xpert^MTB"  # a new assay version


def test_phadia_keeps_the_antibody_in_the_code() -> None:
    assert [c for c, _, _ in _codes("Phadia.Prime^1.2", "^^^f2^sIgE^1", "^^^f2^sIgG4^1")] == ["f2^sIgE", "f2^sIgG4"]
