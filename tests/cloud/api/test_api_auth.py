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


@pytest.fixture
def three_attempts(cloud: ResourceNames) -> ResourceNames:
    """Login throttling at 3 attempts per email and 15-minute window (argon2 makes each attempt slow)."""
    use_settings(get_settings().model_copy(update={"login_max_attempts": 3}))
    return cloud


def test_past_the_limit_even_the_right_password_gets_429_until_the_window_ends(
    three_attempts: ResourceNames, api: Client
) -> None:
    make_user("demo", "admin@demo.clinic")
    assert [login(api, "admin@demo.clinic", "wrong password!")[0] for _ in range(3)] == [401, 401, 401]

    response = api.http.post(
        "/auth/login", headers=JSON, body=json.dumps({"email": "Admin@demo.clinic", "password": PASSWORD})
    )

    assert response.status_code == 429
    assert response.json_body["code"] == "login_throttled"
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    assert response.json_body["message"] == (
        f"too many login attempts for this email; try again in {retry_after} seconds"
    )
    [throttled] = [e for e in audit_repo.list_day(None, datetime.now(UTC)) if e.target["reason"] == "throttled"]
    assert throttled.outcome == "failure" and "admin@" not in json.dumps(throttled.model_dump(mode="json"))


def test_unknown_emails_are_throttled_alike_so_throttling_reveals_no_account(
    three_attempts: ResourceNames, api: Client
) -> None:
    statuses = [login(api, "ghost@demo.clinic", PASSWORD)[0] for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert login(api, "other@demo.clinic", PASSWORD)[0] == 401  # counted per email


def test_a_successful_login_clears_the_count(three_attempts: ResourceNames, api: Client) -> None:
    make_user("demo", "admin@demo.clinic")
    assert [login(api, "admin@demo.clinic", "wrong password!")[0] for _ in range(2)] == [401, 401]
    assert login(api, "admin@demo.clinic", PASSWORD)[0] == 200
    assert [login(api, "admin@demo.clinic", "wrong password!")[0] for _ in range(4)] == [401, 401, 401, 429]


def test_the_next_window_lets_the_user_in_and_old_windows_expire_by_ttl(three_attempts: ResourceNames) -> None:
    make_user("demo", "admin@demo.clinic")
    start = datetime(2026, 11, 24, 9, 0, 5, tzinfo=UTC)  # 5 s into a 15-minute window
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            auth.login("admin@demo.clinic", "wrong password!", now=start)
    with pytest.raises(TooManyAttempts) as caught:
        auth.login("admin@demo.clinic", PASSWORD, now=start + timedelta(minutes=14))
    assert caught.value.retry_after == 55  # until 09:15:00

    token = auth.login("admin@demo.clinic", PASSWORD, now=start + timedelta(minutes=15))

    assert token.access.token and token.refresh_token
    pk = f"LOGIN#{audit.email_fingerprint('admin@demo.clinic')}"  # the email itself is not stored
    window = int(start.timestamp()) // (15 * 60)
    first, second = (LoginThrottleItem.get(pk, f"WINDOW#{n}") for n in (window, window + 1))
    assert first.attempts == 4 and first.expires_at == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # end + a window
    assert second.attempts == 0  # the successful login cleared its window
    table = three_attempts.table("login_throttle")
    ttl = boto3.client("dynamodb", region_name=REGION).describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
