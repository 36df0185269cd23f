"""Edge assignment records (`assignments/...`): a patient id the agent learned for bytes it had already taken
gives the item's unmatched envelopes that patient — after the envelopes, whatever the order of arrival."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.db import audit as audit_repo
from chalicelib.db import patients as patients_repo
from chalicelib.db import readings as readings_repo
from chalicelib.db import unmatched as unmatched_repo
from chalicelib.resources import ResourceNames
from chalicelib.services import ingest
from chalicelib.services.ingest import NotYetIngested, Outcome
from shared_models import PatientAssignment, SourceInfo
from shared_models.s3keys import assignment_key
from tests.cloud.builders import make_envelope, put_envelope

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def _assignment(sha256: str, patient_id: str, clinic_id: str = "demo") -> tuple[str, bytes]:
    record = PatientAssignment(
        assignment_id="a" * 64, clinic_id=clinic_id, agent_id="agent-1", raw_sha256=sha256, patient_id=patient_id,
        id_source="folder_pattern", pattern="{patient_id}/*",
        source=SourceInfo(kind="folder", uri="file:///srv/inbox/P12345/ref.xml", received_at=NOW), assigned_at=NOW,
    )  # fmt: skip
    return assignment_key(clinic_id, sha256, record.assignment_id), record.to_bytes()


def _ingest_envelope(names: ResourceNames, patient_id: str | None, seed: str) -> str:
    envelope = make_envelope(patient_id=patient_id, seed=seed)
    ingest.ingest_envelope(put_envelope(names, envelope), envelope, now=NOW)
    return envelope.envelope_id


def test_an_assignment_gives_the_unmatched_envelopes_their_patient(cloud: ResourceNames) -> None:
    patients_repo.ensure("demo", "P12345", id_source="folder_pattern", seen_at=NOW)
    envelope_id = _ingest_envelope(cloud, None, "orphan-photo")

    assert ingest.ingest_object(*_assignment(envelope_id, "P12345"), now=NOW) is Outcome.ASSIGNED

    page = readings_repo.list_for_patient("demo", "P12345", kind=None, limit=50, next_token=None)
    assert {reading.envelope_id for reading in page.items} == {envelope_id}
    assert unmatched_repo.list_for_clinic("demo", limit=50, next_token=None).items == []
    [entry] = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "readings.assigned"]
    assert entry.actor == "system:ingest" and "P12345" in (entry.resource_id or "") + str(entry.target)
    # Delivered again (SQS is at least once): nothing changes.
    assert ingest.ingest_object(*_assignment(envelope_id, "P12345"), now=NOW) is Outcome.ASSIGNMENT_MOOT


def test_an_assignment_before_its_envelopes_is_retried_then_applied(cloud: ResourceNames) -> None:
    patients_repo.ensure("demo", "P12345", id_source="folder_pattern", seen_at=NOW)
    envelope = make_envelope(patient_id=None, seed="early-bird")
    with pytest.raises(NotYetIngested):
        ingest.ingest_object(*_assignment(envelope.envelope_id, "P12345"), now=NOW)
    ingest.ingest_envelope(put_envelope(cloud, envelope), envelope, now=NOW)
    assert ingest.ingest_object(*_assignment(envelope.envelope_id, "P12345"), now=NOW) is Outcome.ASSIGNED


def test_an_id_from_the_content_wins(cloud: ResourceNames) -> None:
    envelope_id = _ingest_envelope(cloud, "P-FROM-DEVICE", "matched-capture")
    assert ingest.ingest_object(*_assignment(envelope_id, "P12345"), now=NOW) is Outcome.ASSIGNMENT_MOOT
    assert readings_repo.list_for_patient("demo", "P12345", kind=None, limit=5, next_token=None).items == []


def test_an_unknown_patient_is_kept_as_a_hint_and_the_envelope_stays_unmatched(cloud: ResourceNames) -> None:
    envelope_id = _ingest_envelope(cloud, None, "no-such-patient-yet")
    assert ingest.ingest_object(*_assignment(envelope_id, "P-NOBODY"), now=NOW) is Outcome.ASSIGNMENT_HELD
    assert [e.envelope_id for e in unmatched_repo.list_for_clinic("demo", limit=5, next_token=None).items] == [
        envelope_id
    ]
