"""The S3 key layout of ARCHITECTURE §4."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared_models.s3keys import clinic_of, envelope_key, heartbeat_key, quarantine_key, raw_key

AT = datetime(2026, 3, 7, 23, 59, tzinfo=UTC)
SHA = "0f" * 32


def test_keys_follow_the_layout() -> None:
    assert raw_key("demo", AT, SHA, ".XML") == f"raw/demo/2026/03/07/{SHA}.xml"
    assert envelope_key("demo", AT, f"{SHA}-2") == f"envelopes/demo/2026/03/07/{SHA}-2.json"
    assert quarantine_key("demo", SHA) == f"quarantine/demo/{SHA}.json"
    assert heartbeat_key("demo", "pc-1") == "agents/demo/pc-1/heartbeat.json"


def test_odd_extensions_are_dropped_not_trusted() -> None:
    assert raw_key("demo", AT, SHA, ".x/../y") == f"raw/demo/2026/03/07/{SHA}"


@pytest.mark.parametrize("clinic", ["", "a/b", "../x", "clinic one"])
def test_unsafe_clinic_ids_are_refused(clinic: str) -> None:
    with pytest.raises(ValueError, match="clinic_id"):
        quarantine_key(clinic, SHA)


def test_clinic_of_reads_the_tenant_back() -> None:
    assert clinic_of(envelope_key("c-9", AT, SHA)) == "c-9"
    assert clinic_of("other/c/x") is None
