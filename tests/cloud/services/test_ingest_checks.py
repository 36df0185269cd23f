"""Ingest refuses envelopes dated far in the future: quarantined in the cloud, the patient's demographics untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.db import patients as patients_repo
from chalicelib.db import quarantine as quarantine_repo
from chalicelib.resources import ResourceNames
from chalicelib.services.ingest import Outcome, ingest_envelope
from chalicelib.services.ingest_checks import FUTURE_TOLERANCE
from tests.cloud.builders import make_envelope, make_patient_update

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_a_forged_update_dated_ahead_is_quarantined_and_does_not_lock_the_patient(cloud: ResourceNames) -> None:
    honest = make_patient_update(seed="adt-honest", family_name="Kamau", captured_at=NOW - timedelta(hours=1))
    assert ingest_envelope("envelopes/demo/k1.json", honest, now=NOW) is Outcome.PATIENT_UPDATED
    forged = make_patient_update(seed="adt-forged", family_name="Forged", captured_at=NOW + timedelta(days=365))
    assert ingest_envelope("envelopes/demo/k2.json", forged, now=NOW) is Outcome.QUARANTINED
    assert ingest_envelope("envelopes/demo/k2.json", forged, now=NOW) is Outcome.DUPLICATE  # redelivery
    later = make_patient_update(seed="adt-later", family_name="Otieno", captured_at=NOW)
    assert ingest_envelope("envelopes/demo/k3.json", later, now=NOW) is Outcome.PATIENT_UPDATED
    record = patients_repo.get("demo", "P-1001")
    assert record is not None and record.family_name == "Otieno"  # the forged date did not win
    [item] = quarantine_repo.list_for_clinic("demo", limit=10, next_token=None).items
    assert item.reason == "future_timestamp" and "captured_at" in item.detail and item.sha256 == forged.raw.sha256


def test_within_the_tolerance_is_stored(cloud: ResourceNames) -> None:
    near = make_envelope(captured_at=NOW + FUTURE_TOLERANCE - timedelta(minutes=1))
    assert ingest_envelope("envelopes/demo/k4.json", near, now=NOW) is Outcome.MATCHED
    far = make_envelope(seed="far", captured_at=NOW + FUTURE_TOLERANCE + timedelta(minutes=1))
    assert ingest_envelope("envelopes/demo/k5.json", far, now=NOW) is Outcome.QUARANTINED


def test_a_receive_time_far_ahead_is_refused_too(cloud: ResourceNames) -> None:
    envelope = make_envelope(seed="rx", captured_at=None)
    envelope = envelope.model_copy(
        update={"source": envelope.source.model_copy(update={"received_at": NOW + timedelta(days=3)})}
    )
    assert ingest_envelope("envelopes/demo/k6.json", envelope, now=NOW) is Outcome.QUARANTINED


def test_a_device_time_without_an_offset_is_compared_not_a_crash(cloud: ResourceNames) -> None:
    """Analyzers often print local time without an offset (kept naive, as written): it must not fail the message."""
    naive = make_envelope(seed="naive", captured_at=(NOW - timedelta(hours=2)).replace(tzinfo=None))
    assert ingest_envelope("envelopes/demo/k7.json", naive, now=NOW) is Outcome.MATCHED
    ahead = make_envelope(seed="naive-far", captured_at=(NOW + timedelta(days=3)).replace(tzinfo=None))
    assert ingest_envelope("envelopes/demo/k8.json", ahead, now=NOW) is Outcome.QUARANTINED
