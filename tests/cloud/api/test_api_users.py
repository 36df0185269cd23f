"""Staff users: POST/GET/PATCH /users, deactivate, reset and change password, several clinics per account."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jwt
import pytest
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from chalicelib.services.users import ensure_admin
from tests.cloud.api.staff_helpers import call, login, token
from tests.cloud.builders import PASSWORD, bearer, make_user

NURSE = {"email": "nurse@demo.clinic", "password": "a nurse's long passphrase", "role": "nurse", "name": "Amani"}


@pytest.fixture
def org_admin(cloud: ResourceNames, api: Client) -> str:
    ensure_admin("demo", "admin@demo.clinic", PASSWORD)
    return token(api, "admin@demo.clinic")


def test_an_admin_creates_a_user_who_logs_in_with_email_and_password(api: Client, org_admin: str) -> None:
    status, body = call(api, "POST", "/users", NURSE, org_admin)

    assert status == 201
    assert {k: body[k] for k in ("email", "name", "role", "clinic_id", "active")} == {
        "email": "nurse@demo.clinic", "name": "Amani", "role": "nurse", "clinic_id": "demo", "active": True,
    }  # fmt: skip
    claims = jwt.decode(token(api, "nurse@demo.clinic", NURSE["password"]), options={"verify_signature": False})
    assert (claims["sub"], claims["clinic_id"], claims["role"]) == (body["id"], "demo", "nurse")
    assert "org_admin" not in claims and claims["org"] == "medflow"
    assert call(api, "GET", f"/users/{body['id']}", token=org_admin) == (200, body)
    entries = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "user.created"]
    assert any(e.resource_id == body["id"] for e in entries)
    assert NURSE["password"] not in json.dumps([e.model_dump(mode="json") for e in entries])


def test_the_first_admin_is_an_organisation_admin(api: Client, org_admin: str) -> None:
    claims = jwt.decode(org_admin, options={"verify_signature": False})
    assert claims["org_admin"] is True and claims["org"] == "medflow"


@pytest.mark.parametrize(
    ("password", "rule"),
    [("short pass", "at least 12"), ("aaaaaaaaaaaaaaa", "two kinds"), ("nurse@demo.clinic", "email")],
)
def test_the_password_policy_names_the_rule(api: Client, org_admin: str, password: str, rule: str) -> None:
    status, body = call(api, "POST", "/users", {**NURSE, "password": password}, org_admin)
    assert (status, body["code"], body["field"]) == (422, "weak_password", "password")
    assert rule in body["message"]


def test_duplicate_email_and_bad_input_are_4xx(api: Client, org_admin: str) -> None:
    assert call(api, "POST", "/users", NURSE, org_admin)[0] == 201
    status, body = call(api, "POST", "/users", NURSE, org_admin)
    assert (status, body["code"]) == (409, "email_taken")
    assert call(api, "POST", "/users", {**NURSE, "role": "patient"}, org_admin)[1]["code"] == "invalid_role"
    assert call(api, "POST", "/users", {**NURSE, "role": "wizard"}, org_admin)[0] == 422
    assert call(api, "POST", "/users", {**NURSE, "extra": 1}, org_admin)[0] == 422
    assert call(api, "GET", "/users/nobody", token=org_admin)[0] == 404


def test_list_update_and_other_clinics_do_not_see_each_other(cloud: ResourceNames, api: Client, org_admin: str) -> None:
    _, nurse = call(api, "POST", "/users", NURSE, org_admin)
    status, page = call(api, "GET", "/users?limit=1", token=org_admin)
    assert status == 200 and len(page["items"]) == 1 and page["next"]
    _, rest = call(api, "GET", f"/users?limit=5&next={page['next']}", token=org_admin)
    assert {u["email"] for u in page["items"] + rest["items"]} == {"admin@demo.clinic", "nurse@demo.clinic"}

    status, changed = call(api, "PATCH", f"/users/{nurse['id']}", {"role": "doctor", "name": "Dr Amani"}, org_admin)
    assert status == 200 and (changed["role"], changed["name"]) == ("doctor", "Dr Amani")

    other_admin = bearer("other", Role.ADMIN)["Authorization"].split()[1]
    assert call(api, "GET", f"/users/{nurse['id']}", token=other_admin)[0] == 404
    assert call(api, "PATCH", f"/users/{nurse['id']}", {"role": "nurse"}, other_admin)[0] == 404
    assert call(api, "GET", "/users", token=other_admin)[1]["items"] == []


def test_only_admins_manage_users(api: Client, org_admin: str) -> None:
    call(api, "POST", "/users", NURSE, org_admin)
    nurse = token(api, NURSE["email"], NURSE["password"])
    assert call(api, "POST", "/users", {**NURSE, "email": "x@demo.clinic"}, nurse)[0] == 403
    assert call(api, "GET", "/users", token=nurse)[0] == 403


def test_deactivated_user_cannot_log_in_or_refresh(api: Client, org_admin: str) -> None:
    _, nurse = call(api, "POST", "/users", NURSE, org_admin)
    _, tokens = login(api, NURSE["email"], NURSE["password"])

    status, body = call(api, "POST", f"/users/{nurse['id']}/deactivate", token=org_admin)

    assert status == 200 and body["active"] is False
    assert login(api, NURSE["email"], NURSE["password"])[0] == 401
    status, body = call(api, "POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert (status, body["code"]) == (401, "session_ended")


def test_reset_and_change_password(api: Client, org_admin: str) -> None:
    _, nurse = call(api, "POST", "/users", NURSE, org_admin)
    new = "a reset passphrase 42"
    assert call(api, "POST", f"/users/{nurse['id']}/reset-password", {"password": new}, org_admin)[0] == 200
    assert login(api, NURSE["email"], NURSE["password"])[0] == 401
    nurse_token = token(api, NURSE["email"], new)

    status, body = call(api, "POST", "/auth/change-password", {"old_password": "wrong one", "new_password": "x"},
                        nurse_token)  # fmt: skip
    assert (status, body["code"]) == (401, "invalid_credentials")
    status, body = call(api, "POST", "/auth/change-password", {"old_password": new, "new_password": "tooshort"},
                        nurse_token)  # fmt: skip
    assert (status, body["code"], body["field"]) == (422, "weak_password", "new_password")
    final = "my own chosen passphrase"
    assert call(api, "POST", "/auth/change-password", {"old_password": new, "new_password": final},
                nurse_token)[0] == 200  # fmt: skip
    assert login(api, NURSE["email"], final)[0] == 200


def test_an_account_of_several_clinics_picks_one_at_login_and_switches(api: Client, org_admin: str) -> None:
    status, _ = call(api, "POST", "/clinics", {"name": "Branch", "id": "branch"}, org_admin)
    assert status == 201
    _, nurse = call(api, "POST", "/users", NURSE, org_admin)
    status, added = call(api, "POST", "/users", {**NURSE, "role": "doctor", "clinic_id": "branch"}, org_admin)
    assert status == 201 and (added["id"], added["clinic_id"], added["role"]) == (nurse["id"], "branch", "doctor")

    status, body = login(api, NURSE["email"], NURSE["password"])
    assert (status, body["code"], body["field"]) == (422, "clinic_required", "clinic_id")
    assert login(api, NURSE["email"], "wrong password!")[1]["code"] == "invalid_credentials"  # nothing told first
    status, tokens = login(api, NURSE["email"], NURSE["password"], clinic_id="branch")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert (claims["clinic_id"], claims["role"]) == ("branch", "doctor")

    status, switched = call(api, "POST", "/auth/switch-clinic", {"clinic_id": "demo"}, tokens["access_token"])
    assert status == 200
    claims2 = jwt.decode(switched["access_token"], options={"verify_signature": False})
    assert (claims2["clinic_id"], claims2["role"], claims2["sid"]) == ("demo", "nurse", claims["sid"])
    status, again = call(api, "POST", "/auth/refresh", {"refresh_token": switched["refresh_token"]})
    assert jwt.decode(again["access_token"], options={"verify_signature": False})["clinic_id"] == "demo"
    assert call(api, "POST", "/auth/switch-clinic", {"clinic_id": "nowhere"}, switched["access_token"])[0] == 404


def test_a_clinic_admin_cannot_reach_another_clinic(cloud: ResourceNames, api: Client, org_admin: str) -> None:
    call(api, "POST", "/clinics", {"name": "Branch", "id": "branch"}, org_admin)
    make_user("demo", "local-admin@demo.clinic", Role.ADMIN)
    local = token(api, "local-admin@demo.clinic")
    status, body = call(api, "POST", "/users", {**NURSE, "clinic_id": "branch"}, local)
    assert (status, body["code"]) == (404, "not_found")
