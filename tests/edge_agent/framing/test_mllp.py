"""MLLP decoder: partial frames, several per read, junk, size limit; any chunking gives the same messages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.framing.mllp import MllpDecoder, Oversized, encode

MSG = b"MSH|^~\\&|LAB||LIS||20240101||ORU^R01|1|P|2.5\rOBX|1|NM|WBC||5.5\r"


def test_one_frame_in_one_read() -> None:
    assert MllpDecoder().feed(encode(MSG)) == [MSG]


def test_frame_split_byte_by_byte_including_between_fs_and_cr() -> None:
    decoder = MllpDecoder()
    events = [e for b in encode(MSG) for e in decoder.feed(bytes([b]))]
    assert events == [MSG]


def test_several_frames_in_one_read_and_junk_between_is_counted() -> None:
    decoder = MllpDecoder()
    stream = b"\r\n" + encode(b"A") + b"noise" + encode(b"B") + encode(b"C")
    assert decoder.feed(stream) == [b"A", b"B", b"C"]
    assert decoder.junk_bytes == 7


def test_frame_abandoned_by_a_new_vt_is_dropped() -> None:
    decoder = MllpDecoder()
    assert decoder.feed(b"\x0bhalf a message" + encode(b"whole")) == [b"whole"]
    assert decoder.junk_bytes == len(b"half a message")


def test_oversized_frame_is_reported_and_decoder_resyncs() -> None:
    decoder = MllpDecoder(max_message_bytes=10)
    events = decoder.feed(b"\x0b" + b"x" * 50)
    events += decoder.feed(b"y" * 50 + b"\x1c\x0d" + encode(b"small"))
    assert events == [Oversized(100), b"small"]
    assert decoder.oversized_frames == 1
    assert decoder.buffered == 0


def test_oversized_frame_in_a_single_read() -> None:
    decoder = MllpDecoder(max_message_bytes=4)
    assert decoder.feed(encode(b"0123456789") + encode(b"ok")) == [Oversized(10), b"ok"]


def test_memory_stays_bounded_while_skipping() -> None:
    decoder = MllpDecoder(max_message_bytes=100)
    for _ in range(1000):
        decoder.feed(b"\x0b" + b"z" * 99 if _ == 0 else b"z" * 1000)
        assert decoder.buffered <= 101


messages = st.lists(st.binary(max_size=300).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b"")), max_size=6)


@given(messages, st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=50), st.binary(max_size=20))
def test_any_chunking_gives_the_same_messages(msgs: list[bytes], cuts: list[int], junk: bytes) -> None:
    junk = junk.replace(b"\x0b", b"")
    stream = b"".join(junk + encode(m) for m in msgs)
    decoder = MllpDecoder()
    got: list[object] = []
    pos, i = 0, 0
    while pos < len(stream):
        size = cuts[i % len(cuts)]
        got += decoder.feed(stream[pos : pos + size])
        pos += size
        i += 1
    assert got == msgs
