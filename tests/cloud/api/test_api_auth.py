"""POST /auth/login and the Bearer checks every protected route shares (chalice.test.Client over the real app)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import jwt
import pytest
from chalice.test import Client
from pydantic import SecretStr

from chalicelib.db import audit as audit_repo
from chalicelib.db import login_throttle
from chalicelib.db.login_throttle import LoginThrottleItem
from chalicelib.errors import TooManyAttempts, Unauthenticated
from chalicelib.resources import ResourceNames
from chalicelib.services import audit, auth, tokens
from chalicelib.settings import get_settings, use_settings
from tests.cloud.builders import PASSWORD, REGION, bearer, make_user

JSON = {"Content-Type": "application/json"}


def login(api: Client, email: str, password: str) -> tuple[int, dict[str, object]]:
    response = api.http.post("/auth/login", headers=JSON, body=json.dumps({"email": email, "password": password}))
    return response.status_code, response.json_body


def test_login_returns_a_bearer_token_that_opens_protected_routes(cloud: ResourceNames, api: Client) -> None:
    user_id = make_user("demo", "admin@demo.clinic")

    status, body = login(api, "  Admin@Demo.Clinic ", PASSWORD)

    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    claims = jwt.decode(str(body["access_token"]), options={"verify_signature": False})
    assert (claims["sub"], claims["clinic_id"], claims["role"]) == (user_id, "demo", "admin")
    assert {"exp", "iat", "jti"} <= set(claims)
    response = api.http.get("/agents", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [("admin@demo.clinic", "wrong password!"), ("nobody@demo.clinic", PASSWORD)],
)
def test_wrong_credentials_get_one_generic_401(cloud: ResourceNames, api: Client, email: str, password: str) -> None:
    make_user("demo", "admin@demo.clinic")

    status, body = login(api, email, password)

    assert status == 401
    assert body == {"code": "invalid_credentials", "message": "the email or password is incorrect"}


def test_login_attempts_are_audited_without_secrets(cloud: ResourceNames, api: Client) -> None:
    user_id = make_user("demo", "admin@demo.clinic")
    login(api, "admin@demo.clinic", "wrong password!")
    login(api, "admin@demo.clinic", PASSWORD)
    login(api, "ghost@demo.clinic", PASSWORD)

    today = datetime.now(UTC)
    clinic_events = [(e.action, e.outcome, e.actor) for e in audit_repo.list_day("demo", today)]
    assert ("auth.login", "failure", f"user:{user_id}") in clinic_events
    assert ("auth.login", "success", f"user:{user_id}") in clinic_events
    [unknown] = audit_repo.list_day(None, today)
    assert unknown.outcome == "failure" and unknown.target["reason"] == "unknown_email"
    stored = json.dumps([e.model_dump(mode="json") for e in audit_repo.list_day("demo", today)])
    assert PASSWORD not in stored and "ghost@" not in json.dumps(unknown.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ("[]", 422, "invalid_request"),
        (json.dumps({"email": "admin@demo.clinic"}), 422, "invalid_request"),
        (json.dumps({"email": 5, "password": "x"}), 422, "invalid_request"),
        ("", 400, "invalid_json"),
    ],
)
def test_bad_login_bodies_are_4xx(cloud: ResourceNames, api: Client, body: str, status: int, code: str) -> None:
    response = api.http.post("/auth/login", headers=JSON, body=body)
    assert response.status_code == status
    assert response.json_body["code"] == code
    assert response.json_body["message"]


def test_missing_field_is_named_in_the_message(cloud: ResourceNames, api: Client) -> None:
    response = api.http.post("/auth/login", headers=JSON, body=json.dumps({"email": "a@b.co"}))
    assert "password" in response.json_body["message"]


def test_no_token_is_401(cloud: ResourceNames, api: Client) -> None:
    response = api.http.get("/patients/P-1/readings")
    assert response.status_code == 401
    assert response.json_body["code"] == "missing_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer a.b.c"])
def test_malformed_token_is_401(cloud: ResourceNames, api: Client, header: str) -> None:
    response = api.http.get("/readings/unmatched", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json_body["code"] == "invalid_token"


def test_token_signed_with_another_key_is_401(cloud: ResourceNames, api: Client) -> None:
    forged = get_settings().model_copy(update={"jwt_secret": SecretStr("an-attacker-s-own-secret-0123456789abcdef")})
    response = api.http.get("/agents", headers=bearer("demo", settings=forged))
    assert response.status_code == 401
    assert response.json_body["code"] == "invalid_token"


def test_expired_token_is_401(cloud: ResourceNames, api: Client) -> None:
    old = tokens.issue(
        user_id="u1",
        clinic_id="demo",
        role="admin",
        settings=get_settings(),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    response = api.http.get("/agents", headers={"Authorization": f"Bearer {old.token}"})
    assert response.status_code == 401
    assert response.json_body["code"] == "token_expired"


def test_token_of_another_stage_is_401(cloud: ResourceNames, api: Client) -> None:
    other_stage = get_settings().model_copy(update={"stage": "prod"})
    response = api.http.get("/agents", headers=bearer("demo", settings=other_stage))
    assert response.status_code == 401


def test_health_needs_no_token(cloud: ResourceNames, api: Client) -> None:
    response = api.http.get("/health")
    assert response.status_code == 200
    assert response.json_body == {"status": "ok", "service": "medflow-api", "stage": "test"}


def throttle(**limits: int) -> None:
    use_settings(get_settings().model_copy(update=limits))


def retry_after(email: str, password: str, now: datetime, source_ip: str = "203.0.113.7") -> int:
    with pytest.raises(TooManyAttempts) as caught:
        auth.login(email, password, source_ip=source_ip, now=now)
    assert caught.value.code == "login_throttled"
    return caught.value.retry_after


def fail(email: str, now: datetime, source_ip: str = "203.0.113.7") -> None:
    with pytest.raises(Unauthenticated):
        auth.login(email, "wrong password!", source_ip=source_ip, now=now)


START = datetime(2026, 11, 24, 9, 0, 5, tzinfo=UTC)  # 5 s into a 15-minute window


def test_past_the_free_failures_even_the_right_password_must_wait(cloud: ResourceNames, api: Client) -> None:
    throttle(login_max_attempts=2)
    make_user("demo", "admin@demo.clinic")
    assert [login(api, "admin@demo.clinic", "wrong password!")[0] for _ in range(2)] == [401, 401]

    response = api.http.post(
        "/auth/login", headers=JSON, body=json.dumps({"email": "Admin@demo.clinic", "password": PASSWORD})
    )

    assert response.status_code == 429
    assert response.json_body["code"] == "login_throttled"
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= 30
    assert response.json_body["message"] == f"too many failed logins for this email; try again in {wait} seconds"
    [throttled] = [e for e in audit_repo.list_day(None, datetime.now(UTC)) if e.target["reason"] == "throttled"]
    assert throttled.outcome == "failure" and throttled.target["limit"] == "email"
    assert throttled.target["source_ip"] == "127.0.0.1"  # the request context's address, as API Gateway gives it
    assert "admin@" not in json.dumps(throttled.model_dump(mode="json"))


def test_unknown_emails_are_throttled_alike_so_throttling_reveals_no_account(cloud: ResourceNames, api: Client) -> None:
    throttle(login_max_attempts=2)
    make_user("demo", "admin@demo.clinic")
    known = [login(api, "admin@demo.clinic", "wrong password!") for _ in range(3)]
    unknown = [login(api, "ghost@demo.clinic", "wrong password!") for _ in range(3)]
    assert [status for status, _ in known] == [status for status, _ in unknown] == [401, 401, 429]
    assert known[2][1]["message"].split(";")[0] == unknown[2][1]["message"].split(";")[0]
    assert login(api, "other@demo.clinic", PASSWORD)[0] == 401  # counted per email


def test_the_wait_doubles_with_every_failure_up_to_the_cap(cloud: ResourceNames) -> None:
    """Not a lock: each wait ends, and a stranger must keep failing to keep the clinician waiting.
    (The account lockout of seed 003 is a separate layer, turned off here to see the delay alone.)"""
    throttle(login_max_attempts=2, login_delay_seconds=30, login_max_delay_minutes=15, lockout_failures=0)
    make_user("demo", "admin@demo.clinic")
    now = START
    fail("admin@demo.clinic", now)
    waits = []
    for _ in range(7):
        fail("admin@demo.clinic", now)
        waits.append(retry_after("admin@demo.clinic", PASSWORD, now))  # refused before the password is checked
        now += timedelta(seconds=waits[-1])
    assert waits == [30, 60, 120, 240, 480, 900, 900]

    assert auth.login("admin@demo.clinic", PASSWORD, source_ip="203.0.113.7", now=now).access.token
    fail("admin@demo.clinic", now)  # the success cleared the failures: no wait after one
    fail("admin@demo.clinic", now)


def test_failures_are_forgotten_a_quiet_day_later_and_stored_without_the_email(cloud: ResourceNames) -> None:
    throttle(login_max_attempts=1)
    make_user("demo", "admin@demo.clinic")
    fail("admin@demo.clinic", START)
    assert retry_after("admin@demo.clinic", PASSWORD, START) == 30
    row = LoginThrottleItem.get(f"LOGIN#{audit.email_fingerprint('admin@demo.clinic')}", "FAILURES")
    assert row.attempts == 1 and row.expires_at == START.replace(microsecond=0) + timedelta(seconds=30, hours=24)
    ttl = boto3.client("dynamodb", region_name=REGION).describe_time_to_live(TableName=cloud.table("login_throttle"))
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    later = START + timedelta(hours=25)  # expired: DynamoDB deletes such items lazily, the code ignores them at once
    fail("admin@demo.clinic", later)
    assert retry_after("admin@demo.clinic", PASSWORD, later) == 30  # one failure again, not two


def test_two_attempts_racing_on_one_email_cannot_both_be_checked(
    cloud: ResourceNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("demo", "admin@demo.clinic")
    fingerprint = audit.email_fingerprint("admin@demo.clinic")
    before = login_throttle.email_failures(fingerprint, now=START)
    fail("admin@demo.clinic", START)  # the other attempt claimed the email first
    monkeypatch.setattr(login_throttle, "email_failures", lambda fingerprint, now: before)  # read before that

    with pytest.raises(TooManyAttempts, match="another login for this email is under way") as caught:
        auth.login("admin@demo.clinic", PASSWORD, source_ip="203.0.113.7", now=START)
    assert caught.value.retry_after >= 1


def test_one_address_trying_many_accounts_is_stopped_and_others_are_not(cloud: ResourceNames) -> None:
    throttle(login_ip_attempts=3)
    make_user("demo", "admin@demo.clinic")
    for n in range(3):
        fail(f"user{n}@demo.clinic", START, source_ip="198.51.100.9")

    assert retry_after("admin@demo.clinic", PASSWORD, START, source_ip="198.51.100.9") == 15 * 60 - 5
    assert auth.login("admin@demo.clinic", PASSWORD, source_ip="203.0.113.7", now=START).access.token
    # The next window lets the address in again.
    assert auth.login("admin@demo.clinic", PASSWORD, source_ip="198.51.100.9", now=START + timedelta(minutes=15))


def test_all_addresses_together_are_limited_too(cloud: ResourceNames) -> None:
    throttle(login_global_attempts=3)
    for n in range(3):
        fail(f"user{n}@demo.clinic", START, source_ip=f"198.51.100.{n}")
    with pytest.raises(TooManyAttempts, match="too many login attempts right now"):
        auth.login("user9@demo.clinic", PASSWORD, source_ip="192.0.2.1", now=START)


def test_the_local_api_limits_its_callers_address_as_well(cloud: ResourceNames, api: Client) -> None:
    """chalice local and the test client give every request the context address 127.0.0.1."""
    throttle(login_ip_attempts=2, login_window_minutes=24 * 60)  # a day: the test cannot straddle two windows
    assert [login(api, f"user{n}@demo.clinic", PASSWORD)[0] for n in range(3)] == [401, 401, 429]
    response = api.http.post("/auth/login", headers=JSON, body=json.dumps({"email": "x@y.co", "password": "p"}))
    assert response.status_code == 429 and "from this address" in response.json_body["message"]
    assert 0 < int(response.headers["Retry-After"]) <= 24 * 3600
