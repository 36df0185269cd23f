"""Group commit: concurrent submits share one durable commit; each waiter gets its own outcome."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.spool import Incoming, ItemState, NewItem, Spool, SpoolError, SpoolFull, SpoolObject
from edge_agent.spool.group_commit import GroupCommit


class Gate:
    """A commit function that blocks its first call until released, recording every batch."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[int]] = []

    def __call__(self, batch: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(batch))
        self.entered.set()
        self.release.wait(5)
        return [ValueError(n) if n < 0 else n * 10 for n in batch]


def call_in_threads(commit: GroupCommit[int, int], values: list[int]) -> dict[int, object]:
    out: dict[int, object] = {}

    def run(n: int) -> None:
        try:
            out[n] = commit(n)
        except ValueError as exc:
            out[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads)
    return out


def test_callers_arriving_during_a_commit_share_the_next_one() -> None:
    gate = Gate()
    commit: GroupCommit[int, int] = GroupCommit(gate)
    first = threading.Thread(target=commit, args=(1,))
    first.start()
    assert gate.entered.wait(5)  # 1 is being committed (the "fsync" is in progress)
    waiting = threading.Thread(target=lambda: results.update(call_in_threads(commit, [2, 3, -4, 5])))
    results: dict[int, object] = {}
    waiting.start()
    while len(commit._queue) < 4:  # the four callers queue behind the running commit
        threading.Event().wait(0.001)
    gate.release.set()
    first.join(5)
    waiting.join(5)
    assert gate.batches[0] == [1] and sorted(gate.batches[1]) == [-4, 2, 3, 5]  # one commit for four
    assert {k: v for k, v in results.items() if k > 0} == {2: 20, 3: 30, 5: 50}
    assert isinstance(results[-4], ValueError)  # an entry's own error reaches only its caller
    assert (commit.batches, commit.entries) == (2, 5)


def test_a_broken_commit_reaches_every_waiter_and_the_next_caller_leads() -> None:
    calls = 0

    def broken(batch: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk gone")
        return list(batch)

    commit: GroupCommit[int, int] = GroupCommit(broken)
    with pytest.raises(OSError, match="disk gone"):
        commit(1)
    assert commit(2) == 2  # nothing stays stuck: the next caller commits


def incoming(spool_raw: bytes, state: ItemState = ItemState.PARSED) -> Incoming:
    sha = hashlib.sha256(spool_raw).hexdigest()
    new = NewItem(sha, len(spool_raw), "mllp", "mllp://x", "", "m.hl7", None, (), datetime.now(UTC))
    raw_obj = SpoolObject(0, "raw", f"raw/{sha}", "application/hl7-v2")
    env = SpoolObject(1, "envelope", f"envelopes/{sha}.json", "application/json", b"{}")
    return Incoming(new, spool_raw, state, [raw_obj, env])


def test_one_commit_dedupes_within_the_batch_and_refuses_only_what_is_over_the_cap(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data", inline_raw_max_bytes=100)
    small, big, over = b"a" * 50, b"b" * 500, b"c" * 2000
    out = spool.commit([incoming(small), incoming(big), incoming(small), incoming(over)], max_spool_bytes=1000)
    (item_a, created_a), (item_b, created_b), (again, created_again) = out[:3]  # type: ignore[misc]
    assert created_a and created_b and not created_again and again.item_id == item_a.item_id
    assert isinstance(out[3], SpoolFull)
    assert spool.read_raw(item_a.item_id, item_a.sha256) == small and spool.blobs.names() == {item_b.sha256}
    assert spool.read_raw(item_b.item_id, item_b.sha256) == big  # over the inline limit: a blob file
    assert [o.role for o in spool.ledger.outbox.objects(item_a.item_id)] == ["raw", "envelope"]
    assert item_a.state == ItemState.PARSED and item_a.envelopes == 1
    assert "spool_full" in spool.ledger.meta.read()["alarm"]
    (_, created), *_ = spool.commit([incoming(b"d")], max_spool_bytes=10**6)  # type: ignore[misc]
    assert created and "alarm" not in spool.ledger.meta.read()
    spool.close()


def test_a_failed_commit_gives_each_waiter_a_spool_error_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "data")

    def broken(*args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(spool.ledger.items, "insert_classified", broken)
    out = spool.commit([incoming(b"x"), incoming(b"y")], max_spool_bytes=10**6)
    assert all(isinstance(o, SpoolError) for o in out) and out[0] is not out[1]
    monkeypatch.undo()
    assert sum(spool.ledger.items.counts().values()) == 0
    spool.close()


def test_many_entries_from_one_thread_share_the_next_commit_and_get_their_own_outcomes() -> None:
    gate = Gate()
    commit: GroupCommit[int, int] = GroupCommit(gate)
    first = threading.Thread(target=commit, args=(1,))
    first.start()
    assert gate.entered.wait(5)  # a commit is running: what comes now waits for the next one
    out: list[list[int | BaseException]] = []
    many = threading.Thread(target=lambda: out.append(commit.many([2, -3, 4])))
    many.start()
    gate.release.set()
    first.join(5)
    many.join(5)
    (two, error, four) = out[0]
    assert (two, four) == (20, 40) and isinstance(error, ValueError)  # returned, not raised
    assert gate.batches == [[1], [2, -3, 4]]
    assert commit.many([]) == []


def test_an_inserted_item_is_what_reading_its_row_back_gives(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data")
    (item, created), (again, created_again) = spool.commit([incoming(b"a"), incoming(b"a")], max_spool_bytes=10**6)  # type: ignore[misc]
    assert created and not created_again
    assert item == again == spool.ledger.items.get(item.item_id)
    spool.close()
