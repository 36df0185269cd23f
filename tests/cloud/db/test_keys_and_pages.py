"""Key builders and page tokens (no IO)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.db import keys, pagination
from chalicelib.errors import InvalidInput


def test_every_partition_key_starts_with_the_clinic() -> None:
    at = datetime(2026, 11, 3, tzinfo=UTC)
    for pk in (
        keys.clinic_pk("demo"),
        keys.patient_pk("demo", "P1"),
        keys.audit_pk("demo", at),
        keys.ledger_pk("demo", "abc"),
    ):
        assert pk.startswith("CLINIC#demo")


def test_separators_in_ids_cannot_forge_another_partition() -> None:
    assert keys.patient_pk("demo", "P#1") != keys.patient_pk("demo", "P") + "#1"
    assert keys.segment("a#b%c") == "a%23b%25c"


def test_sortable_time_normalises_offsets_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert keys.sortable_time(datetime(2026, 11, 3, 12, 0, tzinfo=plus_two)) == "2026-11-03T10:00:00.000000Z"
    assert keys.sortable_time(datetime(2026, 11, 3, 12, 0)) == "2026-11-03T12:00:00.000000"


def test_page_token_round_trip() -> None:
    last = {"pk": {"S": "CLINIC#demo"}, "sk": {"S": "UNMATCHED#x"}}
    token = pagination.encode(last)
    assert token is not None
    assert pagination.decode(token, "CLINIC#demo", {"pk", "sk"}) == last
    assert pagination.encode(None) is None
    assert pagination.decode(None, "CLINIC#demo", {"pk", "sk"}) is None


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", "W10", "x" * 3000])
def test_garbage_tokens_are_invalid_input(token: str) -> None:
    with pytest.raises(InvalidInput):
        pagination.decode(token, "CLINIC#demo", {"pk", "sk"})


def test_token_of_another_partition_is_refused() -> None:
    token = pagination.encode({"pk": {"S": "CLINIC#a"}, "sk": {"S": "x"}})
    with pytest.raises(InvalidInput):
        pagination.decode(token, "CLINIC#b", {"pk", "sk"})
