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
