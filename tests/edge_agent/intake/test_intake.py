"""Intake: hash, dedupe, classify, envelopes or quarantine, durable before returning, thread-safe, capped."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime

import pytest
from agent_testkit import IDENT, LineAdapter, device_file

from edge_agent.intake.intake import Intake
from edge_agent.intake.port import IntakeResult, Origin
from edge_agent.ops.flowlog import FlowLog
from edge_agent.spool import ItemState, Spool, SpoolError, SpoolFull
from shared_models import Envelope, QuarantineRecord

AT = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)


def submit(
    intake: Intake, raw: bytes, name: str = "x.txt", rel: str = "", patterns: tuple[str, ...] = ()
) -> IntakeResult:
    return intake.submit(raw, Origin(name, "folder", f"file:///in/{rel or name}", rel, "tono-1", patterns))


def envelopes(spool: Spool, item_id: int) -> list[Envelope]:
    objs = spool.ledger.outbox.objects(item_id)
    return [Envelope.model_validate_json(o.body or b"") for o in objs if o.role == "envelope"]


def test_parsed_item_is_stored_with_its_envelope_before_submit_returns(spool: Spool) -> None:
    intake = Intake(spool, IDENT, max_spool_bytes=10**6, adapters=[LineAdapter()], clock=lambda: AT)
    raw = device_file("pid=P1 od=15 os=17")
    result = submit(intake, raw, "tono.txt")
    assert not result.duplicate and not result.quarantined and result.envelopes == 1
    assert spool.read_raw(result.item_id, result.sha256) == raw
    objs = spool.ledger.outbox.objects(result.item_id)
    assert [(o.seq, o.role) for o in objs] == [(0, "raw"), (1, "envelope")]
    assert objs[0].key == f"raw/clinic1/2026/03/09/{result.sha256}.txt"
    assert objs[1].key == f"envelopes/clinic1/2026/03/09/{result.sha256}.json"
    (env,) = envelopes(spool, result.item_id)
    assert env.envelope_id == result.sha256 and (env.part, env.parts) == (0, 1)
    assert (env.clinic_id, env.agent_id, env.adapter.name) == ("clinic1", "agent1", "test_lines")
    assert (env.source.kind, env.source.device_id, env.source.received_at) == ("folder", "tono-1", AT)
    assert (env.raw.key, env.raw.size, env.raw.original_name) == (objs[0].key, len(raw), "tono.txt")
    assert env.patient.id == "P1" and [r.iop_mmhg for r in env.readings] == [15.0, 17.0]  # type: ignore[union-attr]


def test_several_messages_in_one_input_give_numbered_envelopes(intake: Intake, spool: Spool) -> None:
    result = submit(intake, device_file("pid=A od=10", "pid=B od=11", "pid=C od=12"))
    envs = envelopes(spool, result.item_id)
    assert result.envelopes == 3
    assert [e.envelope_id for e in envs] == [f"{result.sha256}-{i}" for i in range(3)]
    assert [(e.part, e.parts) for e in envs] == [(0, 3), (1, 3), (2, 3)]
    assert [e.patient.id for e in envs] == ["A", "B", "C"]


def test_same_bytes_twice_are_taken_once(intake: Intake, spool: Spool) -> None:
    raw = device_file("pid=P1 od=15")
    first = submit(intake, raw, "a.txt")
    second = submit(intake, raw, "copy-of-a.txt")
    assert second.duplicate and second.item_id == first.item_id and second.envelopes == 1
    assert spool.ledger.items.counts()["parsed"] == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"", "empty"), (b" \r\n\x00", "empty"), (b"%PDF-1.4 not a device", "unknown_format"),
     (device_file("pid=P1 od=15", "BROKEN"), "malformed")],
)  # fmt: skip
def test_unusable_input_is_quarantined_with_reason_and_raw_kept(
    intake: Intake, spool: Spool, raw: bytes, reason: str
) -> None:
    result = submit(intake, raw, "bad.dat")
    assert result.quarantined and result.reason == reason and result.detail and result.envelopes == 0
    assert spool.read_raw(result.item_id, result.sha256) == raw
    objs = spool.ledger.outbox.objects(result.item_id)
    assert [(o.role, o.key) for o in objs][1] == ("quarantine", f"quarantine/clinic1/{result.sha256}.json")
    assert objs[0].role == "raw" and objs[0].key.startswith("raw/clinic1/")
    record = QuarantineRecord.model_validate_json(objs[1].body or b"")
    assert record.reason == reason and record.raw.sha256 == result.sha256 and record.source.uri == "file:///in/bad.dat"
    again = submit(intake, raw, "bad.dat")
    assert again.duplicate and again.quarantined and again.reason == reason


def test_path_patterns_fill_and_never_override_content_ids(intake: Intake, spool: Spool) -> None:
    filled = submit(intake, device_file("od=15"), "t.txt", "P42/t.txt", ("{patient_id}/*",))
    (env,) = envelopes(spool, filled.item_id)
    assert (env.patient.id, env.patient.id_source) == ("P42", "folder_pattern")
    conflict = submit(intake, device_file("pid=C7 od=16"), "t.txt", "P42/t.txt", ("{patient_id}/*",))
    (env,) = envelopes(spool, conflict.item_id)
    assert env.patient.id == "C7" and any("kept the content id" in w for w in env.warnings)


def test_spool_cap_refuses_new_items_loudly_and_recovers(spool: Spool, caplog: pytest.LogCaptureFixture) -> None:
    intake = Intake(spool, IDENT, max_spool_bytes=100, adapters=[LineAdapter()])
    kept = submit(intake, device_file("pid=P1 od=15"))
    with pytest.raises(SpoolFull, match="spool_full"):
        submit(intake, device_file("pid=P2 od=16 " + "x=y " * 30))
    assert isinstance(SpoolFull("x"), SpoolError)
    assert "spool_full" in spool.ledger.meta.read()["alarm"]
    assert any(r.levelname == "ERROR" and "ALARM" in r.getMessage() for r in caplog.records)
    assert submit(intake, device_file("pid=P1 od=15")).duplicate  # known bytes are still answered
    # The refused bytes were not stored at all: the sender keeps them.
    assert sum(spool.ledger.items.counts().values()) == 1 and spool.blobs.names() == set()
    spool.ledger.outbox.item_uploaded(kept.item_id, datetime.now(UTC))  # space comes back after an upload
    assert not submit(intake, device_file("pid=P3 od=16")).duplicate
    assert "alarm" not in spool.ledger.meta.read()


@pytest.mark.parametrize("size", [10, 200_000], ids=["inline", "blob-file"])
def test_disk_errors_become_spool_errors(
    intake: Intake, spool: Spool, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    def no_space(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spool.blobs, "put", no_space)  # big inputs fail here,
    monkeypatch.setattr(spool.ledger.items, "insert_classified", no_space)  # small ones (inline) here
    with pytest.raises(SpoolError, match="spool_full: disk full"):  # a SpoolFull: refused like the cap
        submit(intake, device_file("pid=P1 od=15 pad=" + "x" * size))
    monkeypatch.undo()
    assert spool.ledger.items.counts() == {"received": 0, "parsed": 0, "quarantined": 0, "uploaded": 0}
    assert spool.blobs.names() == set()


def test_concurrent_submits_of_the_same_and_different_bytes(intake: Intake, spool: Spool) -> None:
    results = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(10):
            r = submit(intake, device_file(f"pid=P{i % 5} od={10 + i % 5}"), f"w{n}-{i}.txt")
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 60
    assert sum(not r.duplicate for r in results) == 5  # five distinct contents, each taken once
    assert spool.ledger.items.counts()["parsed"] == 5 and sum(spool.ledger.items.counts().values()) == 5


def test_new_items_wake_listeners(intake: Intake) -> None:
    calls: list[int] = []
    intake.on_new_item(lambda: calls.append(1))
    submit(intake, device_file("pid=P1 od=15"))
    submit(intake, device_file("pid=P1 od=15"))  # a duplicate is not new work
    assert calls == [1]


def test_an_adapter_whose_output_breaks_the_envelope_quarantines_as_internal_error(spool: Spool) -> None:
    class BadOutput(LineAdapter):
        name = "bad_output"

        def parse(self, raw, ctx):  # type: ignore[no-untyped-def]
            items = super().parse(raw, ctx)
            items[0].context = {"not": object()}  # type: ignore[dict-item]
            return items

    intake = Intake(spool, IDENT, max_spool_bytes=10**6, adapters=[BadOutput()])
    result = submit(intake, device_file("pid=P1 od=15"))
    assert result.quarantined and result.reason == "internal_error"
    record = json.loads(spool.ledger.outbox.objects(result.item_id)[1].body or b"")
    assert record["adapter"] == "bad_output"


def test_state_query(intake: Intake) -> None:
    result = submit(intake, device_file("pid=P1 od=15"))
    assert intake.state(result.item_id) == ItemState.PARSED and intake.state(999) is None


def test_prepare_then_store_many_is_submit_in_two_halves(spool: Spool) -> None:
    intake = Intake(spool, IDENT, max_spool_bytes=200, adapters=[LineAdapter()])
    a = Origin("a.txt", "mllp", "mllp://10.0.0.5:1")
    kept = intake.submit(device_file("pid=P1 od=15"), a)
    again = intake.prepare(device_file("pid=P1 od=15"), a)
    assert isinstance(again, IntakeResult) and again.duplicate and again.item_id == kept.item_id  # not parsed again
    raws = [device_file("pid=P2 od=16"), device_file("BROKEN"), device_file("pid=P2 od=16"), device_file("x " * 100)]
    prepared = [intake.prepare(raw, Origin("b.txt", "mllp", "mllp://10.0.0.5:1")) for raw in raws]
    new, broken, same, too_big = intake.store_many([p for p in prepared if not isinstance(p, IntakeResult)])
    assert isinstance(new, IntakeResult) and not new.duplicate and new.envelopes == 1
    assert isinstance(broken, IntakeResult) and broken.quarantined and broken.reason == "malformed"
    assert isinstance(same, IntakeResult) and same.duplicate and same.item_id == new.item_id  # stored once
    assert isinstance(too_big, SpoolFull)
    assert len(envelopes(spool, new.item_id)) == 1


def test_store_many_logs_one_line_per_commit_and_each_quarantine(
    spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    intake = Intake(spool, IDENT, max_spool_bytes=10**6, adapters=[LineAdapter()])
    intake.on_taken(FlowLog(logging.getLogger("edge_agent.intake.intake")).taken)  # as edge_agent.__main__ does
    raws = [device_file(f"pid=P{n} od=15") for n in range(3)] + [device_file("BROKEN")]
    prepared = [intake.prepare(raw, Origin("m.txt", "mllp", "mllp://10.0.0.5:1")) for raw in raws]
    with caplog.at_level(logging.INFO, logger="edge_agent.intake.intake"):
        results = intake.store_many([p for p in prepared if not isinstance(p, IntakeResult)])
    lines = [(r.getMessage(), getattr(r, "items", None), getattr(r, "reason", None)) for r in caplog.records]
    assert lines == [("item quarantined", None, "malformed"), ("items parsed", 3, None)]
    (summary,) = [r for r in caplog.records if r.getMessage() == "items parsed"]
    ids = [r.item_id for r in results if isinstance(r, IntakeResult)]
    assert (summary.first_item_id, summary.last_item_id, summary.envelopes) == (ids[0], ids[2], 3)  # type: ignore[attr-defined]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_flow_log_writes_at_once_after_quiet_and_then_at_most_a_line_an_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()  # seconds are fake here; an interval of 1,000 keeps the real timer from firing
    flow = FlowLog(logging.getLogger("test.flow"), interval=1000.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.flow"):
        flow.add("mllp", 1, 1, 1, 1)  # a quiet link: its first commit is written at once
        clock.now += 200
        flow.add("mllp", 2, 2, 3, 2)  # within the interval: counted, not written
        clock.now += 300
        flow.add("serial", 1, 4, 4, 3)
        flow.add("mllp", 1, 5, 5, 1)
        assert len(caplog.records) == 1
        flow.flush()  # what the timer does when the interval ends
        clock.now += 400
        flow.add("mllp", 1, 6, 6, 1)  # 400 s after the last line: waits
        clock.now += 700
        flow.add("mllp", 1, 7, 7, 1)  # 1,100 s after it: written, with the earlier count
        flow.flush()  # nothing left: no line
    lines = [
        (r.source_kind, r.items, r.first_item_id, r.last_item_id, r.envelopes)  # type: ignore[attr-defined]
        for r in caplog.records
    ]
    assert lines == [
        ("mllp", 1, 1, 1, 1),
        ("mllp", 3, 2, 5, 3),
        ("serial", 1, 4, 4, 3),
        ("mllp", 2, 6, 7, 2),
    ]
    assert {r.getMessage() for r in caplog.records} == {"items parsed"}


def test_flow_log_writes_a_bursts_remainder_when_its_interval_ends(caplog: pytest.LogCaptureFixture) -> None:
    flow = FlowLog(logging.getLogger("test.flow.timer"), interval=0.1)
    with caplog.at_level(logging.INFO, logger="test.flow.timer"):
        flow.add("mllp", 1, 1, 1, 1)
        flow.add("mllp", 4, 2, 5, 4)  # the burst's tail: no further message comes
        deadline = time.monotonic() + 5
        while len(caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [r.items for r in caplog.records] == [1, 4]  # type: ignore[attr-defined]
