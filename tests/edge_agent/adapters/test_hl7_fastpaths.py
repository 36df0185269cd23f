"""HL7 shortcuts on the MLLP ACK path give the general path's answer: segments, lines, delimiters, numbers, ACKs."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.adapters.hl7 import to_parsed
from edge_agent.adapters.hl7.results import lab_readings
from edge_agent.errors import ParseError
from edge_agent.hl7 import syntax as hl7_syntax
from edge_agent.hl7.ack import _first_line, _timestamp, build_ack, control_id
from edge_agent.hl7.lines import _cr_lines, _tidied_lines, clean_lines, decode_text, split_messages
from edge_agent.hl7.syntax import (
    _NUMBER,
    STANDARD,
    Message,
    delimiters_of,
    parse_number,
    read_message,
    unescape,
)

common = settings(max_examples=200, deadline=None)


def _joined(tokens: list[str], max_size: int = 12) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(tokens), max_size=max_size).map("".join)


# Field text as analyzers write it, and the characters that make a segment not plain.
_VALUE = _joined([*"AZaz09.-*/<> ^", "  ", "\\F\\", "\\.br\\", "~", "&", "\\", "é"])
_LINE = st.builds(
    lambda name, values: "|".join([name, *values]),
    st.sampled_from(["OBX", "PID", "OBR", "ZXY", "MSH"]),
    st.lists(_VALUE, max_size=20),
)


def _general(message: Message) -> Message:
    """The same message with every segment read by the general path."""
    segments = [dataclasses.replace(s, plain=False, _split={}) for s in message.segments]
    return dataclasses.replace(message, segments=segments)


def _message(lines: list[str]) -> Message:
    text = "\r".join(["MSH|^~\\&|XN-550|LAB|LIS|CLINIC|20240101120000||ORU^R01|C1|P|2.5.1", *lines])
    (first, group), *_ = split_messages(clean_lines(text)[0])[0]
    return read_message(first, group)


@common
@given(lines=st.lists(_LINE, min_size=1, max_size=4))
def test_plain_segments_read_as_the_general_path(lines: list[str]) -> None:
    message = _message(lines)
    for fast, slow in zip(message.segments, _general(message).segments, strict=True):
        if fast.plain:
            assert fast.name != "MSH" and not any(c in "\\~&" for c in "|".join(fast.fields))
        for n in range(-1, len(fast.fields) + 2):
            assert (fast.field(n), fast.reps(n), fast.text(n)) == (slow.field(n), slow.reps(n), slow.text(n))
            assert slow.text(n) == unescape(slow.field(n), slow.delims, keep_delimiters=True)
            assert fast.leaves(n) == slow.leaves(n) and fast.each(n) == slow.each(n)
            for comp in range(1, 5):
                assert fast.each(n, comp) == slow.each(n, comp)
                for sub in range(1, 3):
                    for rep in range(0, 3):
                        assert fast.get(n, comp, sub, rep) == slow.get(n, comp, sub, rep)


@common
@given(lines=st.lists(_LINE, min_size=1, max_size=4))
def test_leaves_and_each_are_gets_in_one_call(lines: list[str]) -> None:
    for seg in _general(_message(lines)).segments:
        for n in range(0, len(seg.fields) + 2):
            leaves = seg.leaves(n)
            assert leaves == [seg.get(n, c) for c in range(1, len(leaves) + 1)]
            assert seg.get(n, len(leaves) + 1) == ""
            every = [seg.get(n, 1, rep=i) for i in range(len(seg.reps(n)))]
            assert seg.each(n) == [v for v in every if v]


def test_a_bare_msh_line_inside_a_message_is_never_plain() -> None:
    bare = _message(["MSH", "OBX|1|NM|X||5"]).segments[1]
    assert (bare.name, bare.plain, bare.get(1)) == ("MSH", False, "|")


_OBX_TYPE = st.sampled_from(["NM", "SN", "CE", "CWE", "CNE", "CF", "ST", "TX", "", "nm", " NM ", "CWE^x"]) | _VALUE


@common
@given(
    kind=_OBX_TYPE,
    head=st.lists(_VALUE, min_size=1, max_size=1),
    tail=st.lists(_VALUE, max_size=20),
    spm=st.booleans(),
)
def test_readings_from_plain_segments_equal_the_general_path(
    kind: str, head: list[str], tail: list[str], spm: bool
) -> None:
    # OBX-1, OBX-2 (the value type: the coded and SN ones read OBX-5 in parts), then 0-20 more fields.
    lines = ["PID|1||P1", "OBR|1|O1|A1|CBC", "|".join(["OBX", *head, kind, *tail]), "NTE|1||note"]
    message = _message([*lines, "SPM|1|S1"] if spm else lines)
    assert lab_readings(message, "XN") == lab_readings(_general(message), "XN")
    assert to_parsed(message, []) == to_parsed(_general(message), [])


@common
@given(
    text=_joined(
        [*"\r\n \t#/*x|\x1c\x85\xa0\u2028", "\r\n", "<cr>", "<CR><LF>", "MSH|", "PID|1", "OBX|1|NM"], max_size=30
    )
)
def test_cr_only_lines_are_cleaned_as_the_general_path_does(text: str) -> None:
    fast = _cr_lines(text)
    if fast is not None:
        assert (fast, []) == _tidied_lines(text)
    assert _cr_lines("MSH|1\rPID|2\r\rOBX|3\r") == [(1, "MSH|1"), (2, "PID|2"), (4, "OBX|3")]


@common
@given(header=st.text(st.sampled_from(list("|^~\\&#$AZ 1")), max_size=10))
def test_the_standard_header_shortcut_answers_as_the_full_check(header: str) -> None:
    def read(msh: str) -> object:
        try:
            return delimiters_of(msh)
        except ParseError as exc:
            return exc.reason, exc.detail

    for msh in ("MSH" + header, "MSH|^~\\&" + header, "MSH|^~\\&|" + header):
        fast = read(msh)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(hl7_syntax, "_STANDARD_HEADER", "no 6-character slice equals this")
            assert fast == read(msh)
    assert delimiters_of("MSH|^~\\&|XN") is STANDARD


@common
@given(text=st.text(st.sampled_from([*"0123456789.+-eE x", "\u0663", "\u00b2", "\u2460", "\u00a0"]), max_size=8))
def test_numbers_read_as_the_pattern_says(text: str) -> None:
    expected = float(text.strip()) if _NUMBER.match(text.strip()) else None
    got = parse_number(text)
    assert got == expected or (got is not None and expected is not None and math.isnan(got) and math.isnan(expected))


def _first_line_decoded(message: bytes) -> str:
    text, _ = decode_text(message[:4096])
    return text.lstrip().split("\r", 1)[0].split("\n", 1)[0]


_BYTES = st.sampled_from(
    [b"MSH|^~\\&|", b"\r", b"\n", b"\xef\xbb\xbf", b"\xc3\xa9", b"\xe9", b" ", b"XN|", b"\xe2\x80"]
)


@common
@given(
    start=st.sampled_from([b"MSH", b" MSH", b"\xef\xbb\xbfMSH", b"PID", b""]),
    parts=st.lists(_BYTES),
    fill=st.integers(0, 4100),
)
def test_the_ascii_msh_line_is_read_as_decoding_would(start: bytes, parts: list[bytes], fill: int) -> None:
    for message in (start + b"".join(parts), start + b"x" * fill + b"".join(parts)):
        assert _first_line(message) == _first_line_decoded(message)


@common
@given(now=st.datetimes())
def test_the_ack_timestamp_is_what_strftime_writes(now: datetime) -> None:
    assert _timestamp(now) == now.strftime("%Y%m%d%H%M%S")


@pytest.mark.parametrize(
    ("message", "ack"),
    [
        (
            b"MSH|^~\\&|XN-550|LAB|LIS|CLINIC|20240101120000||ORU^R01|S1M0000007|P|2.5.1\rPID|1||P7\r",
            "MSH|^~\\&|LIS|CLINIC|XN-550|LAB|20260102030405||ACK^R01^ACK|A1|P|2.5.1\rMSA|AA|S1M0000007\r",
        ),
        (  # not ASCII: read through decoding (Latin-1 here)
            b"MSH|^~\\&|XN|Z\xfcrich|LIS||2024||ORU^R01|C\xe92|P\r",
            "MSH|^~\\&|LIS||XN|Zürich|20260102030405||ACK^R01^ACK|A1|P|2.5.1\rMSA|AA|Cé2\r",
        ),
        (b"\xef\xbb\xbf MSH|^~\\&|XN\r", "MSH|^~\\&|||XN||20260102030405||ACK|A1|P|2.5.1\rMSA|AA|\r"),
        (b"PID|1\r", "MSH|^~\\&|||||20260102030405||ACK|A1|P|2.5.1\rMSA|AA|\r"),
    ],
)
def test_acks_echo_the_msh_as_sent(message: bytes, ack: str) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5)
    assert build_ack(message, "AA", now=now, ack_control_id="A1").decode() == ack
    assert control_id(message) == ack.split("\r")[1].split("|")[2]
