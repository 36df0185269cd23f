"""The doctor's dashboard over the API against the real moto server: the summary's counters move with every write
that changes them (session opened, reviewed, reopened, tagged; patient registered), the compliance rule (on time,
overdue, never scanned, a custom frequency, the boundary day), the feed's limits and order, and who may read it.

Past activity (enrolment and sessions weeks ago) goes through the same services the routes call, with their
clock argument: the routes themselves only know today."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.resources import ResourceNames
from chalicelib.services import patient_auth, scans
from chalicelib.services.roles import Role
from chalicelib.services.scope import Origin, Scope
from chalicelib.services.tokens import Principal
from chalicelib.settings import Settings, use_settings
from localdev.bootstrap import ensure_resources
from localdev.moto import LOCAL_CREDENTIALS, MotoServer
from tests.cloud.builders import JWT_SECRET, PASSWORD, REGION, STAGE, bearer, call
from tests.cloud.dynamo_calls import recorded

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def names(moto_server: MotoServer) -> Iterator[ResourceNames]:
    moto_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in LOCAL_CREDENTIALS.items():
            patch.setenv(key, value)
        patch.setenv("AWS_ENDPOINT_URL", moto_server.url)
        use_settings(Settings(stage=STAGE, region=REGION, endpoint_url=moto_server.url, jwt_secret=JWT_SECRET))
        aws.reset_clients()
        yield ensure_resources(moto_server.url, STAGE, REGION)
    use_settings(None)
    aws.reset_clients()


@pytest.fixture(scope="module")
def api(names: ResourceNames) -> Iterator[Client]:
    from app import app

    with Client(app) as client:
        yield client


def doctor(clinic: str) -> dict[str, str]:
    return bearer(clinic, Role.DOCTOR, user_id="u-dash-doctor")


def patient_token(clinic: str, patient_id: str) -> dict[str, str]:
    return bearer(clinic, Role.PATIENT, user_id=f"pu-{patient_id}", patient_id=patient_id)


def summary(api: Client, clinic: str) -> dict[str, Any]:
    status, body = call(api, "GET", "/dashboard/summary", doctor(clinic))
    assert status == 200, body
    return dict(body)


def register(api: Client, clinic: str, first_name: str, phone: str) -> str:
    body = {"first_name": first_name, "last_name": "Dash", "sex": "FEMALE", "age": 30, "phone": phone,
            "insurance_type": "CASH"}  # fmt: skip
    status, patient = call(api, "POST", "/patients", bearer(clinic, Role.RECEPTIONIST), body)
    assert status == 201, patient
    return str(patient["id"])


def enrol(clinic: str, patient_id: str, at: datetime) -> None:
    """The patient's portal account, opened at `at` (invite and registration on that day)."""
    email = f"{patient_id}@dash.test"
    invited = patient_auth.invite(Scope.system(clinic, "user:u-dash-doctor"), patient_id, email, now=at)
    patient_auth.register(invited.token, email, PASSWORD, Origin(), now=at)


def open_session(clinic: str, patient_id: str, at: datetime | None = None) -> str:
    """A session the patient opens at `at` (its own scope, as the portal route builds it)."""
    principal = Principal(user_id=f"pu-{patient_id}", clinic_id=clinic, role=Role.PATIENT, token_id="t",
                          patient_id=patient_id)  # fmt: skip
    return scans.open_session(Scope.of_request(principal, Origin()), at=at).id


def days_ago(days: int, hour: int = 9) -> datetime:
    return datetime.combine(datetime.now(UTC).date() - timedelta(days=days), time(hour), tzinfo=UTC)


# --- summary ----------------------------------------------------------------------------------------------


def test_counters_move_with_open_review_reopen_and_tag(api: Client, names: ResourceNames) -> None:
    clinic = "clinic-dash-counters"
    assert summary(api, clinic) == {"pending_scans": 0, "total_patients": 0, "compliance_percentage": 0.0,
                                    "tagging_rate": 0.0}  # fmt: skip
    register(api, clinic, "Asha", "+254712100001")
    register(api, clinic, "Baraka", "+254712100002")
    assert summary(api, clinic)["total_patients"] == 2

    opened = [call(api, "POST", "/patient/scans/sessions", patient_token(clinic, "P-DASH-1"))[1]["id"] for _ in "abc"]
    assert summary(api, clinic)["pending_scans"] == 3

    def status(session_id: str, value: str) -> int:
        return call(api, "PATCH", f"/scans/sessions/{session_id}/status", doctor(clinic), {"status": value})[0]

    assert status(opened[0], "REVIEWED") == 200
    assert summary(api, clinic)["pending_scans"] == 2
    assert status(opened[0], "REVIEWED") == 409  # unchanged: the counter does not move either
    assert summary(api, clinic)["pending_scans"] == 2
    assert status(opened[0], "PENDING") == 200
    assert summary(api, clinic)["pending_scans"] == 3
    tags = {"overall_tracking": 1, "oral_hygiene": 2}
    assert call(api, "POST", f"/tagging/sessions/{opened[1]}/tags", doctor(clinic), tags)[0] == 201
    assert call(api, "POST", f"/tagging/sessions/{opened[1]}/tags", doctor(clinic), tags)[0] == 409
    after = summary(api, clinic)
    assert after["pending_scans"] == 2

    _, analytics = call(api, "GET", "/tagging/analytics", doctor(clinic))
    assert after["tagging_rate"] == analytics["tagging_rate"] == 33.33  # 1 of the 3 sessions opened: two decimals


def test_the_summary_reads_counters_not_sessions(api: Client, names: ResourceNames) -> None:
    """The same few calls, and no Scan, with 2 sessions or 30."""
    clinic = "clinic-dash-calls"

    def calls_for_summary() -> list[str]:
        with recorded() as calls:
            assert call(api, "GET", "/dashboard/summary", doctor(clinic))[0] == 200
        return [operation for operation, _ in calls]

    for _ in range(2):
        open_session(clinic, "P-DASH-CALLS")
    few = calls_for_summary()
    for index in range(28):
        open_session(clinic, f"P-DASH-CALLS-{index}")
    many = calls_for_summary()

    assert summary(api, clinic)["pending_scans"] == 30
    assert few == many and "Scan" not in many
    assert len(many) <= 6, many


# --- compliance -------------------------------------------------------------------------------------------


def test_compliance_on_time_overdue_never_scanned_custom_frequency_and_the_boundary(
    api: Client, names: ResourceNames
) -> None:
    clinic = "clinic-dash-compliance"
    today = datetime.now(UTC).date()
    ids = {name: register(api, clinic, name, f"+2547122000{index:02d}") for index, name in
           enumerate(["OnTime", "Late", "Never", "New", "Edge", "PastEdge", "Custom", "NotEnrolled"])}  # fmt: skip
    frequency = {"scan_frequency": 30}
    status, patched = call(api, "PATCH", f"/patients/{ids['Custom']}", bearer(clinic, Role.ADMIN), frequency)
    assert (status, patched["scan_frequency"]) == (200, 30), patched

    enrol(clinic, ids["OnTime"], days_ago(30))
    open_session(clinic, ids["OnTime"], days_ago(5))  # 5 days since: on time
    enrol(clinic, ids["Late"], days_ago(40))
    open_session(clinic, ids["Late"], days_ago(20))  # 20 > 14: overdue by 6
    enrol(clinic, ids["Never"], days_ago(20))  # never scanned, due 14 days from enrolment: overdue by 6
    enrol(clinic, ids["New"], days_ago(0))  # enrolled today: on time
    enrol(clinic, ids["Edge"], days_ago(40))
    open_session(clinic, ids["Edge"], days_ago(14, hour=23))  # exactly 14 days since: still on time
    enrol(clinic, ids["PastEdge"], days_ago(40))
    open_session(clinic, ids["PastEdge"], days_ago(15, hour=0))  # 15 days: overdue by 1
    enrol(clinic, ids["Custom"], days_ago(40))
    open_session(clinic, ids["Custom"], days_ago(25))  # every 30 days: on time

    status, body = call(api, "GET", "/dashboard/compliance", doctor(clinic))

    assert status == 200, body
    assert body["totals"] == {"enrolled": 7, "on_time": 4, "overdue": 3, "compliance_percentage": 57.14}
    assert body["as_of"] == today.isoformat() and body["next"] is None
    overdue = {item["first_name"]: item for item in body["items"]}
    assert set(overdue) == {"Late", "Never", "PastEdge"}
    assert [item["days_overdue"] for item in body["items"]] == [6, 6, 1]  # longest overdue first
    late = overdue["Late"]
    assert late["patient_id"] == ids["Late"] and late["last_name"] == "Dash" and late["op_number"]
    assert late["last_scan_at"].startswith((today - timedelta(days=20)).isoformat())
    assert (late["scan_frequency"], late["due_at"]) == (14, (today - timedelta(days=6)).isoformat())
    assert overdue["Never"]["last_scan_at"] is None
    assert overdue["Never"]["enrolled_at"].startswith((today - timedelta(days=20)).isoformat())
    assert summary(api, clinic)["compliance_percentage"] == 57.14

    # A shorter frequency makes the custom patient overdue: 25 days since its scan, every 20 days.
    status, patched = call(api, "PATCH", f"/patients/{ids['Custom']}", bearer(clinic, Role.ADMIN),
                           {"scan_frequency": 20})  # fmt: skip
    assert status == 200, patched
    _, body = call(api, "GET", "/dashboard/compliance", doctor(clinic))
    assert body["totals"] == {"enrolled": 7, "on_time": 3, "overdue": 4, "compliance_percentage": 42.86}
    custom = next(item for item in body["items"] if item["patient_id"] == ids["Custom"])
    assert (custom["scan_frequency"], custom["days_overdue"]) == (20, 5)

    # A new session puts the late patient back on time.
    open_session(clinic, ids["Late"])
    _, body = call(api, "GET", "/dashboard/compliance", doctor(clinic))
    assert ids["Late"] not in [item["patient_id"] for item in body["items"]]
    assert body["totals"]["overdue"] == 3

    # Pages: the same patients, a page at a time, in the same order.
    _, first = call(api, "GET", "/dashboard/compliance?limit=2", doctor(clinic))
    _, second = call(api, "GET", f"/dashboard/compliance?limit=2&next={first['next']}", doctor(clinic))
    assert len(first["items"]) == 2 and first["next"]
    assert [item["patient_id"] for item in first["items"] + second["items"]] == [
        item["patient_id"] for item in body["items"]
    ]


@pytest.mark.parametrize("value", [0, 366, -1, 7.5, "7", True])
def test_scan_frequency_must_be_1_to_365_days(api: Client, names: ResourceNames, value: Any) -> None:
    clinic = "clinic-dash-frequency"
    patient_id = register(api, clinic, "Freq", "+254712300001")
    status, error = call(api, "PATCH", f"/patients/{patient_id}", bearer(clinic, Role.ADMIN), {"scan_frequency": value})
    assert (status, error["code"], error["field"]) == (422, "invalid_request", "scan_frequency"), error


def test_a_frequency_set_back_to_the_default_moves_the_due_date(api: Client, names: ResourceNames) -> None:
    clinic = "clinic-dash-default"
    patient_id = register(api, clinic, "Reset", "+254712300002")
    headers = bearer(clinic, Role.ADMIN)
    assert call(api, "PATCH", f"/patients/{patient_id}", headers, {"scan_frequency": 3})[0] == 200
    enrol(clinic, patient_id, days_ago(10))
    assert call(api, "GET", "/dashboard/compliance", doctor(clinic))[1]["totals"]["overdue"] == 1

    status, patched = call(api, "PATCH", f"/patients/{patient_id}", headers, {"scan_frequency": None})

    assert (status, patched["scan_frequency"]) == (200, 14)
    assert call(api, "GET", "/dashboard/compliance", doctor(clinic))[1]["totals"] == {
        "enrolled": 1, "on_time": 1, "overdue": 0, "compliance_percentage": 100.0}  # fmt: skip


# --- feed -------------------------------------------------------------------------------------------------


def test_the_feed_merges_the_newest_20_scans_10_messages_10_tag_sets(api: Client, names: ResourceNames) -> None:
    clinic = "clinic-dash-feed"
    patient_id = register(api, clinic, "Feed", "+254712400001")
    sessions = [open_session(clinic, patient_id) for _ in range(22)]
    for session_id in sessions[:12]:
        tags = {"overall_tracking": 1, "oral_hygiene": 1}
        assert call(api, "POST", f"/tagging/sessions/{session_id}/tags", doctor(clinic), tags)[0] == 201
    status, thread = call(api, "POST", "/messaging/threads", doctor(clinic), {"patient_id": patient_id,
                                                                              "subject": "Your aligners"})  # fmt: skip
    assert status == 201, thread
    messages = []
    for index in range(12):
        status, sent = call(api, "POST", "/messaging/messages", doctor(clinic),
                            {"thread_id": thread["id"], "content": f"secret note {index}"})  # fmt: skip
        assert status == 201, sent
        messages.append(sent["id"])

    with recorded() as calls:
        status, feed = call(api, "GET", "/dashboard/feed", doctor(clinic))

    assert status == 200, feed
    items = feed["items"]
    by_kind = {kind: [item for item in items if item["kind"] == kind] for kind in ("scan", "message", "tag_set")}
    assert [len(by_kind[kind]) for kind in ("scan", "message", "tag_set")] == [20, 10, 10]
    assert [item["at"] for item in items] == sorted((item["at"] for item in items), reverse=True)
    assert [item["session_id"] for item in by_kind["scan"]] == sessions[::-1][:20]
    assert [item["message_id"] for item in by_kind["message"]] == messages[::-1][:10]
    assert [item["session_id"] for item in by_kind["tag_set"]] == sessions[:12][::-1][:10]
    assert {item["status"] for item in by_kind["scan"][:10]} == {"PENDING"}  # the 10 newest were not tagged
    assert {item["status"] for item in by_kind["scan"][10:]} == {"REVIEWED"}
    message = by_kind["message"][0]
    assert (message["thread_id"], message["patient_id"], message["sender_type"]) == (thread["id"], patient_id, "DOCTOR")
    assert "secret note" not in json.dumps(feed) and "Your aligners" not in json.dumps(feed)
    assert all(item["patient_id"] == patient_id for item in items)
    operations = [operation for operation, _ in calls]
    assert "Scan" not in operations and len(operations) <= 6, operations


# --- who sees what ----------------------------------------------------------------------------------------


def test_another_clinic_sees_nothing_of_this_one(api: Client, names: ResourceNames) -> None:
    clinic, other = "clinic-dash-own", "clinic-dash-other"
    patient_id = register(api, clinic, "Own", "+254712500001")
    enrol(clinic, patient_id, days_ago(30))
    open_session(clinic, patient_id, days_ago(20))
    assert call(api, "GET", "/dashboard/compliance", doctor(clinic))[1]["totals"]["overdue"] == 1

    assert summary(api, other) == {"pending_scans": 0, "total_patients": 0, "compliance_percentage": 0.0,
                                   "tagging_rate": 0.0}  # fmt: skip
    assert call(api, "GET", "/dashboard/feed", doctor(other)) == (200, {"items": []})
    _, body = call(api, "GET", "/dashboard/compliance", doctor(other))
    assert body["items"] == [] and body["totals"]["enrolled"] == 0
    assert patient_id not in json.dumps(body)


@pytest.mark.parametrize("path", ["/dashboard/summary", "/dashboard/feed", "/dashboard/compliance"])
def test_doctors_admins_and_managers_read_it_nurses_and_patients_may_not(
    api: Client, names: ResourceNames, path: str
) -> None:
    clinic = "clinic-dash-roles"
    for role in (Role.DOCTOR, Role.OPHTHALMOLOGIST, Role.ADMIN, Role.MANAGER):
        assert call(api, "GET", path, bearer(clinic, role))[0] == 200, role
    for role in (Role.NURSE, Role.RECEPTIONIST):
        assert call(api, "GET", path, bearer(clinic, role))[1]["code"] == "forbidden", role
    status, error = call(api, "GET", path, patient_token(clinic, "P-DASH-ROLES"))
    assert (status, error["code"]) == (403, "forbidden")
    assert call(api, "GET", path, {})[0] == 401


@pytest.mark.parametrize(
    ("path", "status", "code", "field"),
    [
        ("/dashboard/summary?days=7", 422, "invalid_request", "days"),
        ("/dashboard/feed?limit=5", 422, "invalid_request", "limit"),
        ("/dashboard/compliance?limit=0", 422, "invalid_request", "limit"),
        ("/dashboard/compliance?limit=201", 422, "invalid_request", "limit"),
        ("/dashboard/compliance?limit=ten", 422, "invalid_request", "limit"),
        ("/dashboard/compliance?limt=5", 422, "invalid_request", "limt"),
        ("/dashboard/compliance?next=not-a-token", 422, "invalid_page_token", "next"),
    ],
)
def test_bad_query_parameters_are_named(
    api: Client, names: ResourceNames, path: str, status: int, code: str, field: str
) -> None:
    answer, error = call(api, "GET", path, doctor("clinic-dash-params"))
    assert (answer, error["code"], error.get("field")) == (status, code, field), error


def test_a_page_token_of_another_clinic_is_refused(api: Client, names: ResourceNames) -> None:
    clinic = "clinic-dash-token"
    for index in range(3):
        patient_id = register(api, clinic, f"Token{index}", f"+25471260000{index}")
        enrol(clinic, patient_id, days_ago(30))
    _, page = call(api, "GET", "/dashboard/compliance?limit=1", doctor(clinic))
    assert page["next"]
    status, error = call(api, "GET", f"/dashboard/compliance?limit=1&next={page['next']}", doctor("clinic-dash-x"))
    assert (status, error["code"]) == (422, "invalid_page_token")


def test_a_patient_enrolled_by_a_session_is_counted_once_when_its_account_opens(
    api: Client, names: ResourceNames
) -> None:
    """An account older than the scan plans is enrolled by its first session; registering an account for a
    patient already enrolled keeps its plan (and its last scan)."""
    clinic = "clinic-dash-once"
    patient_id = register(api, clinic, "Once", "+254712700001")
    open_session(clinic, patient_id, days_ago(3))

    enrol(clinic, patient_id, days_ago(0))

    _, body = call(api, "GET", "/dashboard/compliance", doctor(clinic))
    assert body["totals"] == {"enrolled": 1, "on_time": 1, "overdue": 0, "compliance_percentage": 100.0}
