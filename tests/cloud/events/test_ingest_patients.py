"""Ingest of `patient_update` envelopes (HL7 ADT): latest demographics per patient, idempotent, newest wins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.db import agents as agents_repo
from chalicelib.db import audit as audit_repo
from chalicelib.db import patients as patients_repo
from chalicelib.db import unmatched as unmatched_repo
from chalicelib.events.ingest import lambda_handler
from chalicelib.models import AuditEvent
from chalicelib.resources import ResourceNames
from chalicelib.services.ingest import Outcome, ingest_object
from chalicelib.services.roles import Role
from localdev.router import FakeLambdaContext
from tests.cloud.builders import make_envelope, make_patient_update, put_envelope, s3_notification, sqs_event

EARLY = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
LATE = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)


def handle(*bodies: str) -> list[str]:
    response: dict[str, Any] = dict(lambda_handler(sqs_event(*bodies), FakeLambdaContext()))
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def ingested_events(clinic: str = "demo") -> list[AuditEvent]:
    return [e for e in audit_repo.list_day(clinic, datetime.now(UTC)) if e.action == "envelope.ingested"]


def test_patient_update_creates_the_patient_record(cloud: ResourceNames) -> None:
    envelope = make_patient_update(event="A04")
    key = put_envelope(cloud, envelope)

    assert handle(s3_notification(cloud.bucket, key)) == []

    record = patients_repo.get("demo", "P-1001")
    assert record is not None
    assert (record.family_name, record.given_name, record.birth_date, record.sex) == (
        "Kamau",
        "Wanjiru",
        "1984-02-29",
        "F",
    )
    assert record.other_ids == ["NHIF-778812"]
    assert (record.event, record.envelope_id, record.id_source) == ("A04", envelope.envelope_id, "hl7_pid")
    assert record.updated_at == envelope.captured_at
    [event] = ingested_events()
    assert event.outcome == "patient_updated"
    assert event.target == {"envelope_id": envelope.envelope_id, "agent_id": "agent-1", "patient_id": "P-1001"}


def test_updated_at_falls_back_to_the_received_time(cloud: ResourceNames) -> None:
    envelope = make_patient_update(captured_at=None)
    handle(s3_notification(cloud.bucket, put_envelope(cloud, envelope)))
    record = patients_repo.get("demo", "P-1001")
    assert record is not None and record.updated_at == envelope.source.received_at


def test_duplicate_delivery_gives_one_record_and_one_audit_entry(cloud: ResourceNames) -> None:
    body = s3_notification(cloud.bucket, put_envelope(cloud, make_patient_update()))

    assert handle(body, body) == []
    assert handle(body) == []

    assert len(ingested_events()) == 1
    [agent] = agents_repo.list_for_clinic("demo", limit=50, next_token=None).items
    assert (agent.envelopes_ingested, agent.readings_ingested, agent.unmatched_ingested) == (1, 0, 0)


def test_an_older_update_arriving_late_does_not_overwrite_a_newer_one(cloud: ResourceNames) -> None:
    newer = make_patient_update(seed="newer", event="A08", family_name="Otieno", captured_at=LATE)
    older = make_patient_update(seed="older", event="A04", family_name="Kamau", captured_at=EARLY)

    assert ingest_object(put_envelope(cloud, newer), newer.to_json().encode()) is Outcome.PATIENT_UPDATED
    assert ingest_object(put_envelope(cloud, older), older.to_json().encode()) is Outcome.PATIENT_STALE

    record = patients_repo.get("demo", "P-1001")
    assert record is not None
    assert (record.family_name, record.event, record.envelope_id) == ("Otieno", "A08", newer.envelope_id)
    assert sorted(e.outcome for e in ingested_events()) == ["patient_stale", "patient_updated"]


def test_a_newer_update_replaces_the_stored_one(cloud: ResourceNames) -> None:
    older = make_patient_update(seed="older", event="A01", captured_at=EARLY)
    newer = make_patient_update(seed="newer", event="A03", family_name="Otieno", captured_at=LATE)
    for envelope in (older, newer):
        assert ingest_object(put_envelope(cloud, envelope), envelope.to_json().encode()) is Outcome.PATIENT_UPDATED

    record = patients_repo.get("demo", "P-1001")
    assert record is not None and (record.family_name, record.event) == ("Otieno", "A03")


def test_a_retry_before_the_ledger_commit_rewrites_the_same_values(cloud: ResourceNames) -> None:
    # A crash between the patient write and the ledger commit: the retry must still succeed.
    envelope = make_patient_update()
    key = put_envelope(cloud, envelope)
    handle(s3_notification(cloud.bucket, key))
    record = patients_repo.get("demo", "P-1001")
    assert record is not None
    assert patients_repo.upsert(record) is True
    assert patients_repo.upsert(record.model_copy(update={"updated_at": EARLY, "envelope_id": "x"})) is False


def test_patient_update_without_an_id_is_unmatched(cloud: ResourceNames) -> None:
    envelope = make_patient_update(patient_id=None, seed="no-id")
    assert handle(s3_notification(cloud.bucket, put_envelope(cloud, envelope))) == []

    page = unmatched_repo.list_for_clinic("demo", limit=10, next_token=None)
    assert [u.envelope_id for u in page.items] == [envelope.envelope_id]
    [event] = ingested_events()
    assert event.outcome == "unmatched" and "patient_id" not in event.target
    [agent] = agents_repo.list_for_clinic("demo", limit=50, next_token=None).items
    assert agent.unmatched_ingested == 1


def test_patients_stay_in_their_clinic(cloud: ResourceNames) -> None:
    envelope = make_patient_update(clinic_id="clinic-a")
    handle(s3_notification(cloud.bucket, put_envelope(cloud, envelope)))
    assert patients_repo.get("clinic-a", "P-1001") is not None
    assert patients_repo.get("clinic-b", "P-1001") is None


def test_observations_and_orders_do_not_touch_patients(cloud: ResourceNames) -> None:
    order = make_patient_update(seed="order").model_copy(update={"kind": "order"})
    reading = make_envelope()
    assert ingest_object(put_envelope(cloud, order), order.to_json().encode()) is Outcome.NO_READINGS
    assert ingest_object(put_envelope(cloud, reading), reading.to_json().encode()) is Outcome.MATCHED
    assert patients_repo.get("demo", "P-1001") is None


def test_demographics_never_reach_the_logs(cloud: ResourceNames, capsys: pytest.CaptureFixture[str]) -> None:
    body = s3_notification(cloud.bucket, put_envelope(cloud, make_patient_update()))
    assert handle(body) == []
    output = capsys.readouterr()
    for phi in ("Kamau", "Wanjiru", "1984-02-29", "NHIF-778812"):
        assert phi not in output.out + output.err


def _found(api: Any, query: str) -> list[str]:
    from tests.cloud.builders import bearer

    response = api.http.get(f"/patients?q={query}", headers=bearer("demo", Role.RECEPTIONIST))
    assert response.status_code == 200, response.body
    return [hit["id"] for hit in response.json_body["items"]]


def test_a_patient_known_only_from_adt_is_found_by_the_name_it_sent_and_its_renaming(
    cloud: ResourceNames, api: Any
) -> None:
    first = make_patient_update(event="A04", seed="adt-search-1", captured_at=EARLY)
    assert handle(s3_notification(cloud.bucket, put_envelope(cloud, first))) == []
    assert _found(api, "wanjiru") == ["P-1001"]
    assert _found(api, "kamau%20wanj") == ["P-1001"]

    renamed = make_patient_update(event="A08", seed="adt-search-2", family_name="Otieno", captured_at=LATE)
    assert handle(s3_notification(cloud.bucket, put_envelope(cloud, renamed))) == []
    assert _found(api, "otieno") == ["P-1001"]
    assert _found(api, "kamau") == []

    # An older update arriving late changes neither the record nor the entries.
    stale = make_patient_update(event="A08", seed="adt-search-3", family_name="Mwangi", captured_at=EARLY)
    assert handle(s3_notification(cloud.bucket, put_envelope(cloud, stale))) == []
    assert _found(api, "mwangi") == []
    assert _found(api, "otieno") == ["P-1001"]
