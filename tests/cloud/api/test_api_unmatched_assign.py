"""Unmatched captures resolved by staff: assign / unassign (same day), audit and events, the listing, and the
candidates offered to a registered patient."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.db import events as events_repo
from chalicelib.resources import ResourceNames
from chalicelib.services import assignment
from chalicelib.services.ingest import ingest_object
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from shared_models import SourceInfo
from tests.cloud.builders import RECEIVED, bearer, make_envelope, put_envelope

JSON = {"Content-Type": "application/json"}


def register(api: Client, **extra: Any) -> dict[str, Any]:
    body = {"first_name": "Wanjiru", "last_name": "Kamau", "sex": "FEMALE", "age": 40, "phone": "+254712345678",
            "insurance_type": "CASH", **extra}  # fmt: skip
    response = api.http.post("/patients", headers={**bearer("demo", Role.RECEPTIONIST), **JSON}, body=json.dumps(body))
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def unmatched(cloud: ResourceNames, seed: str = "u-1", uri: str | None = None, readings: int = 3) -> str:
    envelope = make_envelope(patient_id=None, seed=seed, iops=tuple(float(10 + i % 20) for i in range(readings)))
    if uri:
        envelope = envelope.model_copy(update={"source": SourceInfo(kind="folder", uri=uri, received_at=RECEIVED)})
    assert ingest_object(put_envelope(cloud, envelope), envelope.to_json().encode()).value == "unmatched"
    return envelope.envelope_id


def post(api: Client, path: str, body: dict[str, Any] | None = None, role: Role = Role.NURSE) -> Any:
    return api.http.post(path, headers={**bearer("demo", role), **JSON}, body=json.dumps(body or {}))


def listed(api: Client) -> list[str]:
    page = api.http.get("/readings/unmatched", headers=bearer("demo", Role.NURSE)).json_body
    return [item["envelope_id"] for item in page["items"]]


def readings_of(api: Client, patient_id: str) -> list[dict[str, Any]]:
    return list(api.http.get(f"/patients/{patient_id}/readings", headers=bearer("demo", Role.NURSE)).json_body["items"])


def test_assign_moves_the_readings_then_unassign_restores_the_capture(cloud: ResourceNames, api: Client) -> None:
    patient = register(api)
    envelope_id = unmatched(cloud)
    assert listed(api) == [envelope_id]

    response = post(api, f"/readings/unmatched/{envelope_id}/assign", {"patientId": patient["op_number"]})
    assert response.status_code == 200, response.body
    assert response.json_body == {"envelope_id": envelope_id, "patient_id": patient["id"], "state": "assigned",
                                  "readings": 4}  # fmt: skip
    assert listed(api) == []
    assert len(readings_of(api, patient["id"])) == 4
    again = post(api, f"/readings/unmatched/{envelope_id}/assign", {"patient_id": patient["id"]})
    assert again.status_code == 200 and len(readings_of(api, patient["id"])) == 4  # idempotent

    other = register(api, first_name="Other", phone="+254700000001")
    taken = post(api, f"/readings/unmatched/{envelope_id}/assign", {"patient_id": other["id"]})
    assert (taken.status_code, taken.json_body["code"]) == (409, "already_assigned")

    undone = post(api, f"/readings/unmatched/{envelope_id}/unassign")
    assert undone.status_code == 200 and undone.json_body["state"] == "unmatched"
    assert readings_of(api, patient["id"]) == []
    assert listed(api) == [envelope_id]
    assert post(api, f"/readings/unmatched/{envelope_id}/unassign").status_code == 409

    actions = [e.action for e in audit_repo.list_day("demo", datetime.now(UTC))]
    assert actions.count("readings.assigned") == 1 and actions.count("readings.unassigned") == 1
    types = [e.type for e in events_repo.after("demo", None, limit=50, next_token=None).items]
    assert types.count("readings.assigned") == 1 and types.count("readings.unassigned") == 1


def test_unassign_after_the_day_is_409(cloud: ResourceNames, api: Client) -> None:
    patient = register(api)
    envelope_id = unmatched(cloud)
    scope = Scope.system("demo", "user:u-test")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assignment.assign(scope, envelope_id, patient["id"], at=yesterday)

    late = post(api, f"/readings/unmatched/{envelope_id}/unassign")
    assert (late.status_code, late.json_body["code"]) == (409, "unassign_window_closed")


def test_a_large_capture_is_assigned_in_batches(cloud: ResourceNames, api: Client) -> None:
    patient = register(api)
    envelope_id = unmatched(cloud, readings=150)
    response = post(api, f"/readings/unmatched/{envelope_id}/assign", {"patient_id": patient["id"]})
    assert response.status_code == 200 and response.json_body["readings"] == 151
    page = api.http.get(f"/patients/{patient['id']}/readings?limit=200", headers=bearer("demo", Role.NURSE))
    assert len(page.json_body["items"]) == 151
    assert post(api, f"/readings/unmatched/{envelope_id}/unassign").status_code == 200
    assert readings_of(api, patient["id"]) == []


@pytest.mark.parametrize(
    ("path_suffix", "body", "status"),
    [("assign", {"patient_id": "nobody"}, 404), ("assign", {}, 422), ("unassign", None, 404)],
)
def test_bad_assignments(cloud: ResourceNames, api: Client, path_suffix: str, body: Any, status: int) -> None:
    envelope_id = unmatched(cloud) if path_suffix == "assign" else "nope"
    assert post(api, f"/readings/unmatched/{envelope_id}/{path_suffix}", body).status_code == status


def test_receptionist_cannot_assign(cloud: ResourceNames, api: Client) -> None:
    patient = register(api)
    envelope_id = unmatched(cloud)
    refused = post(api, f"/readings/unmatched/{envelope_id}/assign", {"patient_id": patient["id"]},
                   role=Role.RECEPTIONIST)  # fmt: skip
    assert refused.status_code == 403


def test_captures_whose_source_names_the_patient_are_offered(cloud: ResourceNames, api: Client) -> None:
    patient = register(api, national_id="12345678")
    by_op = unmatched(cloud, seed="a", uri=f"file:///srv/inbox/{patient['op_number']}/scan.xml")
    by_nid = unmatched(cloud, seed="b", uri="file:///srv/inbox/12345678/scan.xml")
    unmatched(cloud, seed="c", uri="file:///srv/inbox/99999999/scan.xml")

    path = f"/patients/{patient['id']}/unmatched-candidates"
    offered = api.http.get(path, headers=bearer("demo", Role.NURSE)).json_body["items"]
    assert sorted(item["envelope_id"] for item in offered) == sorted([by_op, by_nid])

    post(api, f"/readings/unmatched/{by_op}/assign", {"patient_id": patient["id"]})
    offered = api.http.get(path, headers=bearer("demo", Role.NURSE)).json_body["items"]
    assert [item["envelope_id"] for item in offered] == [by_nid]


def test_assign_from_device_assigns_or_records_a_hint(cloud: ResourceNames, api: Client) -> None:
    patient = register(api)
    scope = Scope.system("demo", "system:ingest")
    first = unmatched(cloud, seed="d1")
    assert assignment.assign_from_device(scope, first, patient["op_number"]) is True
    assert len(readings_of(api, patient["id"])) == 4

    second = unmatched(cloud, seed="d2")
    assert assignment.assign_from_device(scope, second, "P-4242") is False
    # Once a patient with that id exists (here: readings under P-4242 create its minimal record) it is offered.
    matched = make_envelope(patient_id="P-4242", seed="d3")
    ingest_object(put_envelope(cloud, matched), matched.to_json().encode())
    offered = api.http.get("/patients/P-4242/unmatched-candidates", headers=bearer("demo", Role.NURSE)).json_body
    assert [item["envelope_id"] for item in offered["items"]] == [second]
