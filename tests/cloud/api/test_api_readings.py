"""Readings, unmatched, agents and quarantine endpoints: clinic scoping, roles, paging and 4xx on bad queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.test import Client

from chalicelib.events.ingest import lambda_handler
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from localdev.router import FakeLambdaContext
from tests.cloud.builders import (
    bearer,
    heartbeat_object_key,
    make_envelope,
    make_heartbeat,
    make_quarantine,
    put_envelope,
    put_object,
    quarantine_object_key,
    s3_notification,
    sqs_event,
)


def ingest(names: ResourceNames, *keys: str) -> None:
    response = lambda_handler(sqs_event(*(s3_notification(names.bucket, key) for key in keys)), FakeLambdaContext())
    assert response["batchItemFailures"] == []


@pytest.fixture(scope="module")
def clinic_a(module_cloud: ResourceNames) -> ResourceNames:
    """Clinic `demo`: two tonometry captures of P-1001 a day apart, one unmatched, a heartbeat, a quarantine."""
    first = make_envelope(seed="first", captured_at=datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    second = make_envelope(seed="second", iops=(18.0, 19.0, 18.0), captured_at=datetime(2026, 11, 3, 10, 0, tzinfo=UTC))
    orphan = make_envelope(seed="orphan", patient_id=None)
    heartbeat, record = make_heartbeat(), make_quarantine()
    cloud = module_cloud
    ingest(
        cloud,
        put_envelope(cloud, first),
        put_envelope(cloud, second),
        put_envelope(cloud, orphan),
        put_object(cloud, heartbeat_object_key(heartbeat), heartbeat.model_dump_json().encode()),
        put_object(cloud, quarantine_object_key(record), record.model_dump_json().encode()),
    )
    return cloud


def test_readings_of_a_patient_newest_first(clinic_a: ResourceNames, api: Client) -> None:
    response = api.http.get("/patients/P-1001/readings", headers=bearer("demo", Role.NURSE))

    assert response.status_code == 200
    items = response.json_body["items"]
    assert len(items) == 8
    assert [item["reading"]["iop_mmhg"] for item in items[:4]] == [18.0, 19.0, 18.0, 18.3]  # device order
    assert items[0]["captured_at"] == "2026-11-03T10:00:00Z"
    assert items[0]["envelope_id"] and items[0]["kind"] == "tonometry"
    assert response.json_body["next"] is None


def test_another_clinic_sees_nothing_of_clinic_a(clinic_a: ResourceNames, api: Client) -> None:
    headers = bearer("other-clinic", Role.ADMIN)
    readings = api.http.get("/patients/P-1001/readings", headers=headers)
    assert (readings.status_code, readings.json_body["code"]) == (404, "not_found")  # as for an unknown patient
    assert api.http.get("/readings/unmatched", headers=headers).json_body == {"items": [], "next": None}
    assert api.http.get("/agents", headers=headers).json_body == {"items": [], "next": None}
    assert api.http.get("/quarantine", headers=headers).json_body == {"items": [], "next": None}


def test_paging_walks_every_reading_once(clinic_a: ResourceNames, api: Client) -> None:
    headers, seen, path = bearer("demo", Role.DOCTOR), [], "/patients/P-1001/readings?limit=3"
    for _ in range(5):
        body = api.http.get(path, headers=headers).json_body
        seen += [(item["envelope_id"], item["index"]) for item in body["items"]]
        if not body["next"]:
            break
        path = f"/patients/P-1001/readings?limit=3&next={body['next']}"
    assert len(seen) == len(set(seen)) == 8


def test_a_page_token_cannot_cross_clinics(clinic_a: ResourceNames, api: Client) -> None:
    token = api.http.get("/patients/P-1001/readings?limit=1", headers=bearer("demo")).json_body["next"]
    response = api.http.get(f"/patients/P-1001/readings?next={token}", headers=bearer("other-clinic"))
    # The other clinic has no such patient: refused before the token is even read, with nothing listed.
    assert (response.status_code, response.json_body["code"]) == (404, "not_found")
    response = api.http.get(f"/readings/unmatched?next={token}", headers=bearer("demo"))
    assert (response.status_code, response.json_body["code"]) == (422, "invalid_page_token")  # another query's


def test_kind_filter(clinic_a: ResourceNames, api: Client) -> None:
    headers = bearer("demo", Role.OPHTHALMOLOGIST)
    assert len(api.http.get("/patients/P-1001/readings?kind=tonometry", headers=headers).json_body["items"]) == 8
    assert api.http.get("/patients/P-1001/readings?kind=refraction", headers=headers).json_body["items"] == []


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1000", "limit=ten", "kind=DROP%20TABLE", "next=%%%", "next=eyJwayI6IngifQ", "limt=5"],
)
def test_bad_query_parameters_are_422(clinic_a: ResourceNames, api: Client, query: str) -> None:
    response = api.http.get(f"/patients/P-1001/readings?{query}", headers=bearer("demo"))
    assert response.status_code == 422, response.body
    assert {"code", "message"} <= set(response.json_body) <= {"code", "message", "field"}


def test_unmatched_agents_and_quarantine(clinic_a: ResourceNames, api: Client) -> None:
    headers = bearer("demo", Role.ADMIN)
    [unmatched] = api.http.get("/readings/unmatched", headers=headers).json_body["items"]
    assert len(unmatched["readings"]) == 4
    [agent] = api.http.get("/agents", headers=headers).json_body["items"]
    assert agent["agent_id"] == "agent-1"
    assert agent["counts"] == {"uploaded": 7, "quarantined": 1, "received": 0}
    assert (agent["envelopes_ingested"], agent["readings_ingested"], agent["quarantined"]) == (3, 8, 1)
    [record] = api.http.get("/quarantine", headers=headers).json_body["items"]
    assert record["reason"] == "unknown_format"


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.CASHIER, Role.PATIENT, Role.MANAGER])
def test_roles_without_clinical_access_get_403(clinic_a: ResourceNames, api: Client, role: Role) -> None:
    response = api.http.get("/patients/P-1001/readings", headers=bearer("demo", role))
    assert response.status_code == 403
    assert response.json_body["code"] == "forbidden"


def test_manager_sees_agents_but_not_readings(clinic_a: ResourceNames, api: Client) -> None:
    headers = bearer("demo", Role.MANAGER)
    assert api.http.get("/agents", headers=headers).status_code == 200
    assert api.http.get("/readings/unmatched", headers=headers).status_code == 403
