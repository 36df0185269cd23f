"""E1381 session: receiver checks and answers, sender re-frames and retries, timers and contention."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.framing.astm_e1381 import (
    ACK,
    ENQ,
    EOT,
    NAK,
    AstmSession,
    State,
    build_frame,
    checksum,
    frame_records,
)
from edge_agent.framing.astm_transcript import unframe

RECORDS = [b"H|\\^&|||XP-100", b"P|1", b"O|1||113", b"R|1|^^^^WBC^1|5.5|10*3/uL||N", b"L|1|N"]


def receiver() -> tuple[AstmSession, list[bytes], list[bytes]]:
    out: list[bytes] = []
    got: list[bytes] = []
    return AstmSession(write=out.append, on_message=got.append), out, got


def frames_of(records: list[bytes]) -> list[bytes]:
    return [build_frame(i + 1, text, final) for i, (text, final) in enumerate(frame_records(records))]


def test_checksum_matches_a_real_analyzer_frame() -> None:
    # Abbott Afinion 2 (corpus): the frame "...L|1|N<CR><ETX>" carries checksum F2
    assert checksum(b"1L|1|N\r\x03") == b"%02X" % ((sum(b"1L|1|N\r") + 3) & 0xFF)


def test_receiver_acks_enq_frames_and_delivers_once_at_the_terminator() -> None:
    session, out, got = receiver()
    session.feed(ENQ, 0)
    for frame in frames_of(RECORDS):
        session.feed(frame, 1)
    session.feed(EOT, 2)
    assert out == [ACK] * 6
    assert len(got) == 1
    assert unframe(got[0]).text == b"\r".join(RECORDS) + b"\r"
    assert session.state is State.IDLE


def test_bad_checksum_is_naked_and_never_accepted() -> None:
    session, out, _got = receiver()
    session.feed(ENQ, 0)
    good = build_frame(1, b"H|\\^&\r", True)
    session.feed(good[:-4] + b"00\r\n", 0)
    assert out[-1] == NAK
    session.feed(good, 0)
    assert out[-1] == ACK
    assert session.stats.frames_accepted == 1


def test_wrong_frame_number_is_naked() -> None:
    session, out, _ = receiver()
    session.feed(ENQ, 0)
    session.feed(build_frame(2, b"H|\\^&\r", True), 0)
    assert out[-1] == NAK


def test_repeated_frame_is_acked_again_but_kept_once() -> None:
    session, out, got = receiver()
    session.feed(ENQ, 0)
    frames = frames_of(RECORDS)
    session.feed(frames[0], 0)
    session.feed(frames[0], 0)  # our ACK was lost; the analyzer sends it again
    for frame in frames[1:]:
        session.feed(frame, 0)
    session.feed(EOT, 0)
    assert out.count(ACK) == 7
    assert session.stats.frames_duplicate == 1
    assert unframe(got[0]).text.count(b"H|") == 1


def test_frame_numbers_wrap_from_7_to_0() -> None:
    many = [b"H|\\^&"] + [b"R|%d|^^^X|1" % i for i in range(1, 12)] + [b"L|1|N"]
    session, out, got = receiver()
    session.feed(ENQ, 0)
    for frame in frames_of(many):
        session.feed(frame, 0)
    assert NAK not in out
    assert [f[1:2] for f in frames_of(many)][6:9] == [b"7", b"0", b"1"]
    assert len(got) == 1


def test_store_failure_naks_the_terminator_frame_and_retransmission_is_accepted() -> None:
    out: list[bytes] = []
    calls: list[bytes] = []

    def flaky(transcript: bytes) -> None:
        calls.append(transcript)
        if len(calls) == 1:
            raise OSError("disk full")

    session = AstmSession(write=out.append, on_message=flaky)
    session.feed(ENQ, 0)
    frames = frames_of(RECORDS)
    for frame in frames:
        session.feed(frame, 0)
    assert out[-1] == NAK
    session.feed(frames[-1], 0)
    assert out[-1] == ACK
    assert len(calls) == 2 and calls[0] == calls[1]


def test_receiver_gives_up_after_30_seconds_of_silence() -> None:
    session, _, got = receiver()
    session.feed(ENQ, 0)
    session.feed(frames_of(RECORDS)[0], 1)
    session.poll(30.9)
    assert session.state is State.RECEIVING
    session.poll(31.1)
    assert session.state is State.IDLE
    assert session.stats.timeouts == 1
    assert len(got) == 1  # what was accepted is still kept (no L record: delivered at the end)


def pair(role_a: str = "instrument") -> tuple[AstmSession, AstmSession, list[bytes], list[tuple[bool, str]]]:
    got: list[bytes] = []
    sent: list[tuple[bool, str]] = []
    a_out: list[bytes] = []
    b_out: list[bytes] = []
    a = AstmSession(write=a_out.append, role=role_a, on_sent=lambda ok, d: sent.append((ok, d)))  # type: ignore[arg-type]
    b = AstmSession(write=b_out.append, on_message=got.append)
    a.link, b.link = a_out, b_out  # type: ignore[attr-defined]
    return a, b, got, sent


def run(a: AstmSession, b: AstmSession, now: float = 0, steps: int = 500) -> None:
    for _ in range(steps):
        while a.link:  # type: ignore[attr-defined]
            b.feed(a.link.pop(0), now)  # type: ignore[attr-defined]
        while b.link:  # type: ignore[attr-defined]
            a.feed(b.link.pop(0), now)  # type: ignore[attr-defined]


def test_sender_reframes_long_records_into_240_character_frames() -> None:
    long = [b"H|\\^&", b"M|1|" + b"A" * 1000, b"L|1|N"]
    frames = frame_records(long)
    assert all(len(text) <= 240 for text, _ in frames)
    assert [final for _, final in frames] == [True, False, False, False, False, True, True]
    a, b, got, sent = pair()
    a.send(long, 0)
    run(a, b)
    assert sent == [(True, "7 frames acknowledged")]
    assert unframe(got[0]).text == b"\r".join(long) + b"\r"


def test_sender_retransmits_after_nak_and_stops_after_six() -> None:
    out: list[bytes] = []
    sent: list[tuple[bool, str]] = []
    a = AstmSession(write=out.append, role="instrument", on_sent=lambda ok, d: sent.append((ok, d)))
    a.send([b"H|\\^&", b"L|1|N"], 0)
    a.feed(ACK, 0)
    for _ in range(6):
        a.feed(NAK, 0)
    assert not sent and out[-1].startswith(b"\x021H")
    a.feed(NAK, 0)
    assert sent == [(False, "frame 1 refused 7 times")]
    assert out[-1] == EOT


def test_sender_times_out_after_15_seconds_without_reply() -> None:
    out: list[bytes] = []
    sent: list[tuple[bool, str]] = []
    a = AstmSession(write=out.append, role="instrument", on_sent=lambda ok, d: sent.append((ok, d)))
    a.send([b"H|\\^&", b"L|1|N"], 100)
    a.poll(114.9)
    assert not sent
    a.poll(115.1)
    assert sent == [(False, "no reply within 15 s")]


def test_contention_the_instrument_wins() -> None:
    instrument, computer, got, sent = pair()
    lis_sent: list[tuple[bool, str]] = []
    computer.on_sent = lambda ok, d: lis_sent.append((ok, d))
    computer.send([b"H|\\^&", b"Q|1|^113", b"L|1|N"], 0)
    instrument.send(RECORDS, 0)
    run(instrument, computer)  # both ENQ crossed: the computer backs off, the instrument waits 1 s
    assert got == [] and not sent
    instrument.poll(1.01)
    run(instrument, computer, now=1.01)
    assert sent == [(True, "5 frames acknowledged")] and len(got) == 1
    computer.poll(19.0)
    assert not lis_sent
    computer.poll(20.1)
    got_by_instrument: list[bytes] = []
    instrument.on_message = got_by_instrument.append
    run(instrument, computer, now=20.1)
    assert lis_sent == [(True, "3 frames acknowledged")]
    assert len(got_by_instrument) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=20))
def test_any_chunking_of_the_line_gives_the_same_message(cuts: list[int]) -> None:
    stream = ENQ + b"".join(frames_of(RECORDS)) + EOT
    session, _, got = receiver()
    pos, i = 0, 0
    while pos < len(stream):
        session.feed(stream[pos : pos + cuts[i % len(cuts)]], 0)
        pos += cuts[i % len(cuts)]
        i += 1
    assert [unframe(g).text for g in got] == [b"\r".join(RECORDS) + b"\r"]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=4), st.integers(min_value=1, max_value=255), st.data())
def test_corrupted_frames_are_naked_and_never_accepted(which: int, flip: int, data: st.DataObject) -> None:
    frames = frames_of(RECORDS)
    frame = bytearray(frames[which])
    position = data.draw(st.integers(min_value=1, max_value=len(frame) - 5))  # FN, text or terminator
    frame[position] ^= flip
    session, out, got = receiver()
    session.feed(ENQ, 0)
    for good in frames[:which]:
        session.feed(good, 0)
    out.clear()
    session.feed(bytes(frame), 0)
    accepted = session.stats.frames_accepted
    assert accepted == which or out == [] or NAK in out
    assert accepted == which, "a corrupted frame must never be accepted"
    assert got == []
