"""TOTP second factor over the app (chalice.test.Client, moto): enrol, confirm, login with a code or a recovery
code, replay refused, disable, admin reset, and a clinic requiring TOTP for a role (enrolment-only token)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pyotp
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.db import users as users_repo
from chalicelib.resources import ResourceNames
from chalicelib.services import users
from chalicelib.services.roles import Role
from tests.cloud.api.staff_helpers import call, login, token
from tests.cloud.builders import PASSWORD, make_user

ADMIN, NURSE = "admin@demo.clinic", "nurse@demo.clinic"


def enrolled(api: Client, email: str) -> tuple[pyotp.TOTP, list[str], str]:
    """Enrols `email` (password-only login first); returns its TOTP, recovery codes and access token."""
    access = token(api, email)
    status, body = call(api, "POST", "/auth/totp/enrol", token=access)
    assert status == 200, body
    otp = pyotp.TOTP(body["secret"])
    assert body["otpauth_uri"].startswith("otpauth://totp/MedFlow:") and body["secret"] in body["otpauth_uri"]
    status, codes = call(api, "POST", "/auth/totp/confirm", {"code": otp.now()}, token=access)
    assert status == 200, codes
    return otp, codes["recovery_codes"], access


def step_code(otp: pyotp.TOTP, steps: int) -> str:
    return otp.at(datetime.now(UTC) + timedelta(seconds=30 * steps))


def audit_text() -> str:
    return json.dumps([e.model_dump(mode="json") for e in audit_repo.list_day("demo", datetime.now(UTC), limit=500)])


def test_enrolment_gives_a_secret_and_confirmation_gives_ten_single_use_recovery_codes(
    cloud: ResourceNames, api: Client
) -> None:
    user_id = make_user("demo", NURSE, Role.NURSE)
    access = token(api, NURSE)
    status, body = call(api, "POST", "/auth/totp/enrol", token=access)
    assert status == 200
    secret = body["secret"]
    window = {step_code(pyotp.TOTP(secret), steps) for steps in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in window)
    assert call(api, "POST", "/auth/totp/confirm", {"code": wrong}, token=access)[1]["code"] == "invalid_totp"

    status, body = call(api, "POST", "/auth/totp/confirm", {"code": pyotp.TOTP(secret).now()}, token=access)

    assert status == 200 and len(body["recovery_codes"]) == 10 and len(set(body["recovery_codes"])) == 10
    row = users_repo.account_row("medflow", user_id)
    assert row is not None and row.totp_pending is None and row.totp_last_step is not None
    assert secret not in (row.totp_secret or "") and row.totp_secret and row.totp_secret.startswith("v1:")
    stored = set(row.recovery_sha256 or [])
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in body["recovery_codes"]}
    assert not any(code in str(stored) for code in body["recovery_codes"])
    text = audit_text()
    assert "user.totp_enabled" in text and secret not in text
    assert not any(code in text for code in body["recovery_codes"])
    status, again = call(api, "POST", "/auth/totp/enrol", token=access)
    assert (status, again["code"]) == (409, "totp_already_enrolled")


def test_login_of_an_enrolled_user_needs_a_code_after_the_password(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", NURSE, Role.NURSE)
    otp, _codes, _ = enrolled(api, NURSE)

    status, body = login(api, NURSE)
    assert (status, body["code"]) == (401, "totp_required")
    status, body = login(api, NURSE, "a wrong password entirely")  # the wrong password answer stays generic
    assert (status, body["code"]) == (401, "invalid_credentials")
    status, body = login(api, NURSE, "a wrong password entirely", totp=otp.now())
    assert (status, body["code"]) == (401, "invalid_credentials")

    status, body = login(api, NURSE, totp=step_code(otp, 1))  # the next step is within ±1
    assert status == 200 and body["access_token"]
    status, body = login(api, NURSE, totp=step_code(otp, 1))  # the same step again: a replay
    assert (status, body["code"]) == (401, "invalid_totp")
    status, body = login(api, NURSE, totp=step_code(otp, -1))  # an earlier step than the last accepted one
    assert (status, body["code"]) == (401, "invalid_totp")
    status, body = login(api, NURSE, totp=step_code(otp, 3))  # too far ahead
    assert (status, body["code"]) == (401, "invalid_totp")
    reasons = [e.target.get("reason") for e in audit_repo.list_day("demo", datetime.now(UTC), limit=500)
               if e.action == "auth.login" and e.outcome == "failure"]  # fmt: skip
    assert {"totp_required", "invalid_totp", "wrong_password"} <= set(reasons)


def test_a_recovery_code_works_once_in_place_of_a_code(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", NURSE, Role.NURSE)
    _otp, codes, _ = enrolled(api, NURSE)

    status, body = login(api, NURSE, totp=codes[3].lower())

    assert status == 200
    status, body = login(api, NURSE, totp=codes[3])
    assert (status, body["code"]) == (401, "invalid_totp")
    assert login(api, NURSE, totp=codes[4])[0] == 200
    assert login(api, NURSE, totp="ABCD-EFGH-IJKL-MNOP")[1]["code"] == "invalid_totp"


def test_disabling_needs_a_current_code_and_an_admin_can_reset(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", ADMIN)
    nurse_id = make_user("demo", NURSE, Role.NURSE)
    otp, _codes, access = enrolled(api, NURSE)

    status, body = call(api, "DELETE", "/auth/totp", {"code": "12345"}, token=access)
    assert (status, body["code"]) == (422, "invalid_totp")
    status, body = call(api, "DELETE", "/auth/totp", {"code": step_code(otp, 1)}, token=access)
    assert (status, body["status"]) == (200, "totp_disabled")
    assert login(api, NURSE)[0] == 200  # no second factor any more

    enrolled(api, NURSE)
    admin = token(api, ADMIN)
    assert call(api, "POST", f"/users/{nurse_id}/totp/reset", token=access)[0] == 403
    status, body = call(api, "POST", f"/users/{nurse_id}/totp/reset", token=admin)
    assert (status, body["status"]) == (200, "totp_reset")
    assert login(api, NURSE)[0] == 200
    make_user("other", "admin@other.clinic")
    assert call(api, "POST", f"/users/{nurse_id}/totp/reset", token=token(api, "admin@other.clinic"))[0] == 404


def test_a_clinic_requiring_totp_for_a_role_gives_an_enrolment_only_token(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", ADMIN)
    make_user("demo", NURSE, Role.NURSE)
    admin = token(api, ADMIN)
    status, body = call(api, "PUT", "/clinics/demo/security", {"require_totp_roles": ["nurse"]}, token=admin)
    assert (status, body["require_totp_roles"]) == (200, ["nurse"])
    assert call(api, "PUT", "/clinics/demo/security", {"require_totp_roles": ["wizard"]}, token=admin)[0] == 422
    assert call(api, "PUT", "/clinics/demo/security", {"require_totp_roles": ["patient"]}, token=admin)[0] == 422

    status, body = login(api, NURSE)

    assert (status, body["code"], body["scope"]) == (403, "totp_enrolment_required", "totp_enrolment")
    assert 0 < body["expires_in"] <= 600
    limited = body["enrolment_token"]
    for method, path in (("GET", "/auth/sessions"), ("GET", "/users"), ("POST", "/auth/logout"),
                         ("DELETE", "/auth/totp")):  # fmt: skip
        status, refused = call(api, method, path, {"code": "123456"} if method == "DELETE" else None, token=limited)
        assert (status, refused["code"]) == (401, "invalid_token"), path
    assert login(api, NURSE, "not the password at all")[1]["code"] == "invalid_credentials"
    assert login(api, ADMIN)[0] == 200  # the admin role is not listed

    status, enrolment = call(api, "POST", "/auth/totp/enrol", token=limited)
    assert status == 200
    otp = pyotp.TOTP(enrolment["secret"])
    status, confirmed = call(api, "POST", "/auth/totp/confirm", {"code": otp.now()}, token=limited)
    assert status == 200
    assert login(api, NURSE)[1]["code"] == "totp_required"
    status, body = login(api, NURSE, totp=step_code(otp, 1))
    assert status == 200
    # A factor the clinic requires cannot be switched off by its user (the code is not spent either).
    code = confirmed["recovery_codes"][0]
    status, refused = call(api, "DELETE", "/auth/totp", {"code": code}, token=body["access_token"])
    assert (status, refused["code"]) == (409, "totp_required_by_clinic")
    assert login(api, NURSE, totp=code)[0] == 200


def test_adding_an_existing_account_to_another_clinic_keeps_its_totp(cloud: ResourceNames, api: Client) -> None:
    users.ensure_admin("demo", ADMIN, PASSWORD)  # an organisation admin
    nurse_id = make_user("demo", NURSE, Role.NURSE)
    enrolled(api, NURSE)
    admin = token(api, ADMIN)
    assert call(api, "POST", "/clinics", {"name": "Branch", "id": "branch"}, token=admin)[0] == 201

    status, _ = call(api, "POST", "/users", {"email": NURSE, "password": PASSWORD, "role": "nurse", "name": "N",
                                             "clinic_id": "branch"}, token=admin)  # fmt: skip

    assert status == 201
    row = users_repo.account_row("medflow", nurse_id)
    assert row is not None and row.totp_secret and row.recovery_sha256
    assert login(api, NURSE, clinic_id="demo")[1]["code"] == "totp_required"
