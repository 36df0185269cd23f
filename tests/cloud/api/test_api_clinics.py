"""Clinics: created by organisation admins, read by staff, updated by admins; other organisations see nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from chalice.test import Client

from chalicelib.db import events as events_repo
from chalicelib.resources import ResourceNames
from chalicelib.services import clinics
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from chalicelib.services.users import ensure_admin
from tests.cloud.api.staff_helpers import call, token
from tests.cloud.builders import PASSWORD, bearer, make_user


@pytest.fixture
def org_admin(cloud: ResourceNames, api: Client) -> str:
    ensure_admin("demo", "admin@demo.clinic", PASSWORD)
    return token(api, "admin@demo.clinic")


def test_an_organisation_admin_creates_and_lists_clinics(api: Client, org_admin: str) -> None:
    status, body = call(api, "POST", "/clinics", {"name": "Goma Eye Clinic", "currency": "CDF"}, org_admin)

    assert status == 201
    assert body["id"].startswith("goma-eye-clinic-")
    assert (body["name"], body["currency"], body["timezone"], body["org_id"]) == (
        "Goma Eye Clinic", "CDF", "Africa/Nairobi", "medflow",
    )  # fmt: skip
    status, page = call(api, "GET", "/clinics", token=org_admin)
    assert status == 200 and {c["id"] for c in page["items"]} == {"demo", body["id"]}
    assert call(api, "GET", f"/clinics/{body['id']}", token=org_admin) == (200, body)


def test_create_is_audited_with_an_event(cloud: ResourceNames, api: Client, org_admin: str) -> None:
    _, body = call(api, "POST", "/clinics", {"name": "Branch", "id": "branch"}, org_admin)
    assert body["id"] == "branch"
    assert call(api, "POST", "/clinics", {"name": "Again", "id": "branch"}, org_admin)[1]["code"] == "clinic_exists"
    page = events_repo.after("branch", None, limit=10, next_token=None)
    assert [(e.type, e.subject) for e in page.items] == [("clinic.created", {"clinic_id": "branch"})]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"name": "X", "timezone": "Mars/Olympus"}, "invalid_timezone", "timezone"),
        ({"name": "X", "timezone": "../../etc/passwd"}, "invalid_timezone", "timezone"),
        ({"name": "X", "currency": "EUR"}, "invalid_request", "currency"),
        ({"name": ""}, "invalid_request", "name"),
        ({"name": "X", "id": "bad id"}, "invalid_request", "id"),
    ],
)
def test_bad_clinics_are_422(api: Client, org_admin: str, body: dict[str, str], code: str, field: str) -> None:
    status, answer = call(api, "POST", "/clinics", body, org_admin)
    assert (status, answer["code"], answer.get("field")) == (422, code, field)


def test_a_clinic_admin_cannot_create_clinics_and_sees_only_its_own(cloud: ResourceNames, api: Client,
                                                                     org_admin: str) -> None:  # fmt: skip
    call(api, "POST", "/clinics", {"name": "Branch", "id": "branch"}, org_admin)
    make_user("demo", "local@demo.clinic", Role.ADMIN)
    local = token(api, "local@demo.clinic")

    assert call(api, "POST", "/clinics", {"name": "Mine"}, local)[0] == 403
    assert [c["id"] for c in call(api, "GET", "/clinics", token=local)[1]["items"]] == ["demo"]
    assert call(api, "GET", "/clinics/branch", token=local)[0] == 404
    assert call(api, "PATCH", "/clinics/branch", {"name": "Hijack"}, local)[0] == 404
    status, body = call(api, "PATCH", "/clinics/demo", {"timezone": "Africa/Kinshasa", "address": "Av. 30 Juin"}, local)
    assert status == 200 and (body["timezone"], body["address"]) == ("Africa/Kinshasa", "Av. 30 Juin")
    nurse = bearer("demo", Role.NURSE)["Authorization"].split()[1]
    assert call(api, "PATCH", "/clinics/demo", {"name": "X"}, nurse)[0] == 403
    assert call(api, "GET", "/clinics/demo", token=nurse)[0] == 200


def test_another_organisation_sees_none_of_ours(cloud: ResourceNames, api: Client, org_admin: str) -> None:
    acme = Scope.system("acme-hq", "cli", org_id="acme", org_admin=True)
    clinics.create(acme, name="Acme", clinic_id="acme-1", now=datetime.now(UTC))
    assert call(api, "GET", "/clinics/acme-1", token=org_admin)[0] == 404
    assert "acme-1" not in {c["id"] for c in call(api, "GET", "/clinics", token=org_admin)[1]["items"]}
    assert call(api, "POST", "/users", {"email": "x@acme.org", "password": "long enough pass 1", "role": "nurse",
                                        "name": "X", "clinic_id": "acme-1"}, org_admin)[0] == 404  # fmt: skip
