"""Key builders and page tokens (no IO)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.db import audit as audit_repo
from chalicelib.db import cursor, keys
from chalicelib.errors import InvalidInput
from chalicelib.settings import Settings, use_settings
from tests.cloud.builders import JWT_SECRET, REGION, STAGE


def test_every_partition_key_starts_with_the_clinic() -> None:
    for pk in (
        keys.clinic_pk("demo"),
        keys.patient_pk("demo", "P1"),
        audit_repo.partition("demo"),
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


@pytest.fixture(autouse=True)
def _settings() -> Iterator[None]:
    """Page tokens are signed with a key derived from the stage's JWT secret."""
    use_settings(Settings(stage=STAGE, region=REGION, jwt_secret=JWT_SECRET))
    yield
    use_settings(None)


def test_page_token_round_trip() -> None:
    last = {"pk": {"S": "CLINIC#demo"}, "sk": {"S": "UNMATCHED#x"}}
    token = cursor.encode(last, "directory//CLINIC#demo")
    assert token is not None
    assert cursor.decode(token, "directory//CLINIC#demo") == last
    assert cursor.encode(None, "directory//CLINIC#demo") is None
    assert cursor.decode(None, "directory//CLINIC#demo") is None


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", "W10", "x" * 3000, "", "A" * 40])
def test_garbage_tokens_are_invalid_input(token: str) -> None:
    if not token:
        assert cursor.decode(token, "directory//CLINIC#demo") is None
        return
    with pytest.raises(InvalidInput):
        cursor.decode(token, "directory//CLINIC#demo")


def test_token_of_another_partition_or_index_is_refused() -> None:
    token = cursor.encode({"pk": {"S": "CLINIC#a"}, "sk": {"S": "x"}}, "directory//CLINIC#a")
    for other in ("directory//CLINIC#b", "directory/gsi1/CLINIC#a", "clinical//CLINIC#a"):
        with pytest.raises(InvalidInput):
            cursor.decode(token, other)


def test_a_forged_start_key_is_refused() -> None:
    """Unsigned, any sort-key value (empty, oversized) would reach DynamoDB; signed, none does."""
    import base64
    import json

    genuine = cursor.encode({"pk": {"S": "CLINIC#a"}, "sk": {"S": "x"}}, "directory//CLINIC#a")
    assert genuine is not None
    raw = base64.urlsafe_b64decode(genuine + "=" * (-len(genuine) % 4))
    forged_payload = json.dumps({"pk": "CLINIC#a", "sk": "y" * 1500}).encode()
    forged = base64.urlsafe_b64encode(raw[:16] + forged_payload).decode().rstrip("=")
    with pytest.raises(InvalidInput):
        cursor.decode(forged, "directory//CLINIC#a")
