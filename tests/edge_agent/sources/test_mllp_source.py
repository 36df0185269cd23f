"""MLLP listener over real sockets with a real spool: AA after durable submit, AE/AR with reasons, duplicates."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.adapters.astm import AstmAdapter
from edge_agent.adapters.hl7 import Hl7Adapter
from edge_agent.commands.simulate import hl7_messages, send_hl7
from edge_agent.config import MllpSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.framing.mllp import MllpDecoder, encode
from edge_agent.identity import Identity
from edge_agent.intake.intake import Intake
from edge_agent.sources.mllp import MllpSource
from edge_agent.spool import Spool

pytestmark = pytest.mark.integration
ORU = (
    b"MSH|^~\\&|XP|LAB|LIS|CLINIC|20240101120000||ORU^R01|MSG0001|P|2.5\r"
    b"PID|1||P123\rOBR|1|ORD1|ACC1\rOBX|1|NM|WBC^White cells^L||5.5|10*3/uL|4-10|N|||F\r"
)


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[Intake]:
    spool = Spool(tmp_path / "data")
    yield Intake(
        spool, Identity("clinic1", "agent1"), max_spool_bytes=50_000_000, adapters=[Hl7Adapter(), AstmAdapter()]
    )
    spool.close()


def start(intake: Any, **cfg: Any) -> MllpSource:
    source = MllpSource(MllpSourceConfig(name="lab", port=_free_port(), **cfg), intake)
    source.start()
    return source


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exchange(port: int, *messages: bytes) -> list[str]:
    answers: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        decoder = MllpDecoder()
        for message in messages:
            conn.sendall(encode(message))
            got: list[Any] = []
            while not got:
                got = decoder.feed(conn.recv(65536))
            answers.append(got[0].decode())
    return answers


def test_aa_after_submit_with_msa2_echoing_msh10(intake: Intake) -> None:
    source = start(intake)
    try:
        (ack,) = exchange(source.port or 0, ORU)
    finally:
        source.stop()
    msh, msa = ack.split("\r")[:2]
    assert msh.startswith("MSH|^~\\&|LIS|CLINIC|XP|LAB|") and "|ACK^R01^ACK|" in msh
    assert msa == "MSA|AA|MSG0001"
    assert intake.spool.ledger.items.counts()["parsed"] == 1


def test_retransmission_after_lost_ack_is_acked_again_and_stored_once(intake: Intake) -> None:
    source = start(intake)
    try:
        first = exchange(source.port or 0, ORU)
        again = exchange(source.port or 0, ORU)  # new connection, same bytes: the analyzer never saw our ACK
    finally:
        source.stop()
    assert first[0].split("\r")[1] == again[0].split("\r")[1] == "MSA|AA|MSG0001"
    assert sum(intake.spool.ledger.items.counts().values()) == 1


def test_ack_uses_the_messages_own_delimiters() -> None:
    from datetime import UTC, datetime

    from edge_agent.hl7.ack import build_ack

    odd = b"MSH^~|\\&^SEND^FAC^RECV^FAC2^20120918^^ADT~A24^CTRL9^T^2.4\rPID^1^^11111\r"
    ack = build_ack(odd, "AA", now=datetime(2024, 1, 1, tzinfo=UTC), ack_control_id="A1").decode()
    assert ack.startswith("MSH^~|\\&^RECV^FAC2^SEND^FAC^20240101000000^^ACK~A24~ACK^A1^T^2.4\r")
    assert "\rMSA^AA^CTRL9\r" in ack


def test_quarantined_message_gets_ae_with_err_naming_the_reason(intake: Intake, corpus_dir: Path) -> None:
    bad = (corpus_dir / "hl7" / "CDCgov__data-exchange-hl7__Lyme_WithBadDelimiters.txt").read_bytes()
    source = start(intake)
    try:
        (ack,) = exchange(source.port or 0, bad.replace(b"\n", b"\r"))
    finally:
        source.stop()
    segments = ack.split("\r")
    assert segments[1].startswith("MSA|AE|MESSAGE CONTROL ID|bad_delimiters")
    assert segments[2].startswith("ERR|||102^Data type error^HL70357|E|") and "bad_delimiters" in segments[2]
    assert intake.spool.ledger.items.counts()["quarantined"] == 1


class RefusingIntake:
    def submit(self, raw: bytes, origin: Any, **_: Any) -> Any:
        raise EdgeAgentError("spool full: 10 GiB pending")

    async def submit_async(self, raw: bytes, origin: Any) -> Any:
        return self.submit(raw, origin)

    def release_loop(self, loop: Any) -> None:
        pass

    def state(self, item_id: int) -> None:
        return None


def test_spool_refusal_gets_ar() -> None:
    source = start(RefusingIntake())
    try:
        (ack,) = exchange(source.port or 0, ORU)
    finally:
        source.stop()
    assert ack.split("\r")[1].startswith("MSA|AR|MSG0001|spool_refused: spool full")
    assert ack.split("\r")[2].startswith("ERR|||207^Application internal error^HL70357|E|")


def test_oversized_message_gets_ar_and_the_connection_keeps_working(intake: Intake) -> None:
    source = start(intake, max_message_bytes=1000)
    try:
        big, small = exchange(source.port or 0, ORU + b"NTE|1||" + b"x" * 5000 + b"\r", ORU)
    finally:
        source.stop()
    assert big.split("\r")[1].startswith("MSA|AR||too_large")
    assert small.split("\r")[1] == "MSA|AA|MSG0001"


def test_several_analyzers_at_once(intake: Intake) -> None:
    source = start(intake)
    answers: list[str] = []

    def analyzer(n: int) -> None:
        msgs = [ORU.replace(b"MSG0001", b"A%02dM%03d" % (n, i)) for i in range(20)]
        answers.extend(exchange(source.port or 0, *msgs))

    threads = [threading.Thread(target=analyzer, args=(n,)) for n in range(5)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        source.stop()
    assert len(answers) == 100 and all("\rMSA|AA|" in a for a in answers)
    assert intake.spool.ledger.items.counts()["parsed"] == 100


def test_simulator_sends_every_message_of_a_file_and_prints_acks(intake: Intake, corpus_dir: Path) -> None:
    raw = (corpus_dir / "hl7" / "hapifhir__hapi-hl7v2__example_oml_o21.hl7").read_bytes()
    assert len(hl7_messages(raw)) == 13
    source = start(intake)
    out = io.StringIO()
    try:
        status = send_hl7("127.0.0.1", source.port or 0, [raw], out)
    finally:
        source.stop()
    lines = out.getvalue().splitlines()
    assert status == 0 and len(lines) == 13
    assert lines[0] == "MSA|AA|msgOP123"
