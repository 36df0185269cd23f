"""Patients get in (seed 000 §1): invites (single use, 7 days, revoked by a newer one, only their hash stored),
the rate-limited invite check, registering once, patient login with the staff limits, the refresh cookie
(rotation, reuse detection) and logout."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.endpoint
import jwt
import pytest
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.errors import Conflict
from chalicelib.resources import ResourceNames
from chalicelib.services import patient_auth
from chalicelib.services.roles import Role
from chalicelib.services.scope import Origin, Scope
from chalicelib.services.users import ensure_user
from chalicelib.settings import get_settings, use_settings
from tests.cloud.api.portal_helpers import enrol, invite, new_patient, refresh_cookie, send
from tests.cloud.builders import JWT_SECRET, PASSWORD, REGION, bearer

CLINIC = "portal-clinic"
EMAIL = "amani@example.test"


@pytest.fixture(autouse=True)
def _settings(cloud: ResourceNames) -> None:
    use_settings(get_settings().model_copy(update={"portal_url": "https://portal.example.test"}))


def _validate(api: Client, token: str) -> Any:
    return api.http.get(f"/patient-auth/validate-invite/{token}")


def _register(api: Client, token: str, email: str = EMAIL, password: str = PASSWORD) -> Any:
    return send(api, "POST", "/patient-auth/register", {"token": token, "email": email, "password": password})


def _login(api: Client, email: str = EMAIL, password: str = PASSWORD) -> Any:
    return send(api, "POST", "/patient-auth/login", {"email": email, "password": password})


def _refresh(api: Client, cookie: str | None) -> Any:
    headers = {"Cookie": f"patient_refresh={cookie}"} if cookie else {}
    return send(api, "POST", "/patient-auth/refresh", headers=headers)


def _directory_items(names: ResourceNames) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name=REGION).Table(names.table("directory"))
    return list(table.scan()["Items"])


def test_invite_validate_register_once(cloud: ResourceNames, api: Client) -> None:
    patient_id = new_patient(api, CLINIC, first_name="Amani")
    invited = invite(api, CLINIC, patient_id, "Amani@Example.test")
    assert invited.status_code == 201, invited.body
    token = invited.json_body["token"]
    assert len(token) == 64 and int(token, 16) >= 0
    assert invited.json_body["invite_url"] == f"https://portal.example.test/register/{token}"
    expires = datetime.fromisoformat(invited.json_body["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)

    checked = _validate(api, token)
    assert checked.status_code == 200
    assert checked.json_body == {"valid": True, "patient_name": "Amani Okello", "email": EMAIL, "reason": None}

    registered = _register(api, token, email="AMANI@example.test")
    assert registered.status_code == 201, registered.body
    body = registered.json_body
    assert body["patient"]["id"] == patient_id and body["patient"]["email"] == EMAIL
    claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"], audience="medflow-staff-api")
    assert (claims["role"], claims["pid"], claims["clinic_id"]) == ("patient", patient_id, CLINIC)
    assert claims["exp"] - claims["iat"] == 3600
    cookie = registered.headers["Set-Cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
    assert "SameSite=Strict" in cookie and "Path=/patient-auth" in cookie
    assert f"Max-Age={30 * 24 * 3600}" in cookie
    assert body["access_token"] not in cookie

    # Single use: the token now reads as used, and a second register writes nothing.
    assert _validate(api, token).json_body == {"valid": False, "patient_name": None, "email": None, "reason": "used"}
    again = _register(api, token)
    assert (again.status_code, again.json_body["code"]) == (409, "invite_used")
    # The token itself is stored nowhere, and no audit entry names it.
    assert token not in str(_directory_items(cloud))
    entries = audit_repo.list_day(CLINIC, datetime.now(UTC))
    assert token not in str(entries)
    assert {"patient.invited", "patient.portal_registered"} <= {entry.action for entry in entries}

    # The patient token reaches the patient routes, and no staff route.
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert api.http.get("/patient/messages", headers=headers).status_code == 200
    assert api.http.get(f"/patients/{patient_id}", headers=headers).status_code == 403


def test_a_new_invite_revokes_the_older_one_and_none_after_registration(cloud: ResourceNames, api: Client) -> None:
    patient_id = new_patient(api, CLINIC)
    first = invite(api, CLINIC, patient_id, EMAIL).json_body["token"]
    second = invite(api, CLINIC, patient_id, EMAIL).json_body["token"]

    assert _validate(api, first).json_body["reason"] == "revoked"
    refused = _register(api, first)
    assert (refused.status_code, refused.json_body["code"]) == (409, "invite_revoked")
    assert _validate(api, second).json_body["valid"] is True
    assert _register(api, second).status_code == 201
    late = invite(api, CLINIC, patient_id, EMAIL)
    assert (late.status_code, late.json_body["code"]) == (409, "account_exists")


def test_invites_expire_after_seven_days(cloud: ResourceNames, api: Client) -> None:
    """The clock is injected: invites made 8 and 6 days ago."""
    old_patient, fresh_patient = new_patient(api, CLINIC), new_patient(api, CLINIC, "Baraka", "+254712000002")
    scope = Scope.system(CLINIC, "user:u-doctor")
    now = datetime.now(UTC)
    old = patient_auth.invite(scope, old_patient, "old@example.test", now=now - timedelta(days=8))
    fresh = patient_auth.invite(scope, fresh_patient, "fresh@example.test", now=now - timedelta(days=6))

    assert _validate(api, old.token).json_body == {"valid": False, "patient_name": None, "email": None,
                                                   "reason": "expired"}  # fmt: skip
    refused = _register(api, old.token, email="old@example.test")
    assert (refused.status_code, refused.json_body["code"]) == (409, "invite_expired")
    assert _validate(api, fresh.token).json_body["valid"] is True
    with pytest.raises(Conflict, match="expired"):  # the same invite, a day later than its end
        later = now + timedelta(days=1, hours=1)
        patient_auth.register(fresh.token, "fresh@example.test", PASSWORD, Origin(), now=later)


def test_unknown_and_malformed_tokens_are_invalid_and_name_nobody(cloud: ResourceNames, api: Client) -> None:
    for token in ("0" * 64, "not-a-token", "Z" * 64):
        response = _validate(api, token)
        assert response.status_code == 200
        assert response.json_body == {"valid": False, "patient_name": None, "email": None, "reason": "unknown"}
    refused = _register(api, "0" * 64)
    assert (refused.status_code, refused.json_body["code"]) == (409, "invalid_invite")


def test_invite_checks_are_rate_limited_per_address(cloud: ResourceNames, api: Client) -> None:
    use_settings(get_settings().model_copy(update={"invite_ip_attempts": 5}))
    answers = [_validate(api, f"{n:064x}").status_code for n in range(5)]
    assert answers == [200] * 5
    throttled = _validate(api, "f" * 64)
    assert throttled.status_code == 429
    assert throttled.json_body["code"] == "invite_throttled"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 15 * 60
    # Registering counts against the same limit: no guessing through the other door.
    assert _register(api, "e" * 64).status_code == 429


def test_bad_registrations_write_nothing_and_keep_the_invite(cloud: ResourceNames, api: Client) -> None:
    patient_id = new_patient(api, CLINIC)
    token = invite(api, CLINIC, patient_id, EMAIL).json_body["token"]

    mismatch = _register(api, token, email="someone.else@example.test")
    assert (mismatch.status_code, mismatch.json_body["code"], mismatch.json_body["field"]) == (
        422, "email_mismatch", "email")  # fmt: skip
    weak = _register(api, token, password="short")
    assert (weak.status_code, weak.json_body["code"]) == (422, "weak_password")
    assert _validate(api, token).json_body["valid"] is True
    assert _register(api, token).status_code == 201


def test_an_email_is_one_patient_account_per_clinic(cloud: ResourceNames, api: Client) -> None:
    first, second = new_patient(api, CLINIC), new_patient(api, CLINIC, "Baraka", "+254712000002")
    enrol(api, CLINIC, first, EMAIL)
    token = invite(api, CLINIC, second, EMAIL).json_body["token"]
    taken = _register(api, token)
    assert (taken.status_code, taken.json_body["code"]) == (409, "email_taken")
    assert _validate(api, token).json_body["valid"] is True  # nothing was spent


def test_concurrent_registers_with_one_token_exactly_one_wins(
    cloud: ResourceNames, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process moto runs a request atomically only under this lock (test_api_patient_registration does the
    same on the server); the threads still interleave between their reads and their transactions."""
    one_request_at_a_time = threading.Lock()
    real_send = botocore.endpoint.Endpoint._do_get_response

    def atomic_send(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        with one_request_at_a_time:
            return real_send(self, request, operation_model, context)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_do_get_response", atomic_send)
    patient_id = new_patient(api, CLINIC)
    token = invite(api, CLINIC, patient_id, EMAIL).json_body["token"]

    def attempt(_: int) -> str:
        try:
            patient_auth.register(token, EMAIL, PASSWORD, Origin(source_ip="10.0.0.9"))
        except Conflict as exc:
            return exc.code
        return "registered"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(attempt, range(6)))

    assert outcomes.count("registered") == 1, outcomes
    assert set(outcomes) - {"registered"} <= {"invite_used", "email_taken", "account_exists"}
    registered = [e for e in audit_repo.list_day(CLINIC, datetime.now(UTC)) if e.action == "patient.portal_registered"]
    assert len(registered) == 1


def test_login_refresh_rotation_reuse_and_logout(cloud: ResourceNames, api: Client) -> None:
    patient_id = new_patient(api, CLINIC)
    enrol(api, CLINIC, patient_id, EMAIL)

    logged_in = _login(api, "  Amani@example.TEST ")
    assert logged_in.status_code == 200, logged_in.body
    assert set(logged_in.json_body) == {"access_token", "token_type", "expires_in"}
    assert logged_in.json_body["expires_in"] == 3600
    first = refresh_cookie(logged_in)

    refreshed = _refresh(api, first)
    assert refreshed.status_code == 200, refreshed.body
    second = refresh_cookie(refreshed)
    assert second != first
    access = {"Authorization": f"Bearer {refreshed.json_body['access_token']}"}
    assert api.http.get("/patient/messages", headers=access).status_code == 200

    # The spent cookie again: a copy exists, so the whole session ends (the newer cookie and its tokens too).
    reused = _refresh(api, first)
    assert (reused.status_code, reused.json_body["code"]) == (401, "refresh_token_reused")
    assert _refresh(api, second).json_body["code"] == "session_ended"
    assert api.http.get("/patient/messages", headers=access).json_body["code"] == "session_ended"

    # A new login, then logout: the cookie is cleared and the session's tokens stop at once.
    again = _login(api)
    token = {"Authorization": f"Bearer {again.json_body['access_token']}"}
    out = send(api, "POST", "/patient-auth/logout", headers=token)
    assert out.status_code == 200 and out.json_body == {"status": "logged_out"}
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    assert api.http.get("/patient/messages", headers=token).status_code == 401
    assert _refresh(api, refresh_cookie(again)).json_body["code"] == "session_ended"


def test_refresh_needs_its_own_kind_of_session(cloud: ResourceNames, api: Client) -> None:
    patient_id = new_patient(api, CLINIC)
    patient = enrol(api, CLINIC, patient_id, EMAIL)
    ensure_user(CLINIC, "nurse@portal-clinic.test", PASSWORD, Role.NURSE)
    staff = send(api, "POST", "/auth/login", {"email": "nurse@portal-clinic.test", "password": PASSWORD}).json_body

    missing = _refresh(api, None)
    assert (missing.status_code, missing.json_body["code"], missing.json_body["field"]) == (
        422, "missing_refresh_cookie", "patient_refresh")  # fmt: skip
    assert _refresh(api, staff["refresh_token"]).json_body["code"] == "invalid_refresh_token"
    staff_door = send(api, "POST", "/auth/refresh", {"refresh_token": patient.cookie})
    assert (staff_door.status_code, staff_door.json_body["code"]) == (401, "invalid_refresh_token")
    assert _refresh(api, patient.cookie).status_code == 200  # neither attempt ended the patient's session


def test_patient_login_is_throttled_and_locked_like_staff_but_apart_from_staff(
    cloud: ResourceNames, api: Client
) -> None:
    use_settings(get_settings().model_copy(update={"login_max_attempts": 100}))  # the lock alone
    patient_id = new_patient(api, CLINIC)
    enrol(api, CLINIC, patient_id, EMAIL)
    ensure_user(CLINIC, EMAIL, PASSWORD, Role.NURSE)  # a nurse who is also a patient of the clinic

    wrong = [_login(api, password="wrong password 1") for _ in range(5)]
    assert [r.status_code for r in wrong] == [401] * 5
    assert {r.json_body["code"] for r in wrong} == {"invalid_credentials"}
    locked = _login(api)
    assert (locked.status_code, locked.json_body["code"]) == (423, "account_locked")
    assert int(locked.headers["Retry-After"]) > 0
    unknown = _login(api, "nobody@example.test", "wrong password 1")
    assert (unknown.status_code, unknown.json_body["code"]) == (401, "invalid_credentials")
    # The staff account with the same address is not locked by the patient's failures.
    staff = send(api, "POST", "/auth/login", {"email": EMAIL, "password": PASSWORD})
    assert staff.status_code == 200, staff.body


def test_invites_stay_in_the_clinic(cloud: ResourceNames, api: Client) -> None:
    patient_id = new_patient(api, CLINIC)
    elsewhere = invite(api, "another-clinic", patient_id, EMAIL)
    assert (elsewhere.status_code, elsewhere.json_body["code"]) == (404, "not_found")
    nurse = invite(api, CLINIC, patient_id, EMAIL, role=Role.NURSE)
    assert (nurse.status_code, nurse.json_body["code"]) == (403, "forbidden")
    bad = send(api, "POST", f"/patients/{patient_id}/invite", {"email": "not an email"}, bearer(CLINIC, Role.ADMIN))
    assert (bad.status_code, bad.json_body["field"]) == (422, "email")
