"""HL7 syntax details the corpus exercises only in part: delimiters, escapes, timestamps, detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from edge_agent.adapters.base import ParseContext
from edge_agent.adapters.hl7 import Hl7Adapter
from edge_agent.errors import ParseError
from edge_agent.hl7.syntax import STANDARD, Delimiters, delimiters_of, parse_timestamp, unescape

CTX = ParseContext(name="x.hl7", now=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", "a|b^c&d~e\\f"),
        ("line1\\.br\\line2", "line1\nline2"),
        ("\\X0D0A\\", "\r\n"),
        ("\\H\\bold\\N\\", "bold"),
        ("C:\\temp", "C:\\temp"),  # no closing escape: kept as sent
    ],
)
def test_escape_sequences(escaped: str, plain: str) -> None:
    assert unescape(escaped, STANDARD) == plain


def test_truncation_character_is_accepted() -> None:
    assert delimiters_of("MSH|^~\\&#|A").truncation == "#"


@pytest.mark.parametrize(
    ("msh", "why"), [("MSH|&&&&|A", "'&' used"), ("MSH|^~}|A", "3 encoding"), ("MSH|^~\\\\&|A", "'\\\\'")]
)
def test_unusable_delimiters_are_named(msh: str, why: str) -> None:
    with pytest.raises(ParseError) as err:
        delimiters_of(msh)
    assert err.value.reason.value == "bad_delimiters" and why in err.value.detail


def test_non_standard_delimiters_are_honoured() -> None:
    raw = b"MSH$^~\\&$LAB$$LIS$$2024$$ORU^R01$9$P$2.5\rPID$1$$P9\rOBX$1$NM$GLU^Glucose^L$$5.1$mmol/L\r"
    (item,) = Hl7Adapter().parse(raw, CTX)
    assert delimiters_of("MSH$^~\\&$") == Delimiters(field="$")
    assert item.patient.id == "P9" and item.readings[0].numeric == 5.1  # type: ignore[union-attr]


def test_timestamps_keep_their_offset() -> None:
    assert parse_timestamp("20200325081445.964-0400") == datetime(
        2020, 3, 25, 8, 14, 45, tzinfo=timezone(timedelta(hours=-4))
    )
    assert parse_timestamp("2019") == datetime(2019, 1, 1)
    assert parse_timestamp("") is None


@pytest.mark.parametrize("raw", [b"H|\\^&|||XP-100\rL|1|N\r", b"\x02\x1emtrsl|", b"%PDF-1.4", b"hello\nworld\n"])
def test_other_inputs_are_not_detected(raw: bytes) -> None:
    assert Hl7Adapter().detect(raw, "x") == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"MSH|^~\\&|XN|LAB\rPID|1",
        b"MSH#^~\\&#XN#LAB\rPID#1",
        b"MSH|^~\\&\rPID|1||P1",  # first line of 8 characters: not a full header
        b"MSH|^~<cr>PID|1||P1<cr>OBX|1",  # literal <cr> line ends
        b"MSHA^~\\&|XN|LAB\r",
        b"\xef\xbb\xbfMSH|^~\\&|XN|LAB\r",
        b"# comment\rMSH|^~\\&|XN|LAB\r",
        b"MSH|^~\\&|\xe9N|LAB\r",
    ],
)
def test_the_msh_shortcut_in_detect_answers_as_the_full_check(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = Hl7Adapter().detect(raw, "x.hl7")
    monkeypatch.setattr("edge_agent.adapters.hl7.adapter._starts_with_msh", lambda raw: False)
    assert fast == Hl7Adapter().detect(raw, "x.hl7")


def test_a_file_of_mllp_framed_messages_gives_one_envelope_per_frame() -> None:
    from edge_agent.commands.simulate import hl7_messages
    from edge_agent.framing.mllp import encode

    one = b"MSH|^~\\&|XP|LAB|LIS|CLINIC|20240101120000||ORU^R01|M1|P|2.5\rPID|1||P1\rOBX|1|NM|WBC||5.5|10*3/uL\r"
    two = one.replace(b"|M1|", b"|M2|").replace(b"||P1", b"||P2")
    for raw in (encode(one) + encode(two), encode(one) + b"\r\n" + encode(two) + b"\r\n"):  # as captured, or exported
        assert Hl7Adapter().detect(raw, "capture.hl7") >= 0.9
        items = Hl7Adapter().parse(raw, CTX)
        assert [i.patient.id for i in items] == ["P1", "P2"]
        assert [i.context["message_control_id"] for i in items] == ["M1", "M2"]
        assert "MLLP framing removed (2 framed message(s))" in items[0].warnings
        assert hl7_messages(raw) == [one, two]  # `simulate hl7` sends them unframed, one frame each
