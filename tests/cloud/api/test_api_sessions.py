"""Sessions over the real app (chalice.test.Client, moto): refresh tokens rotated at every use, reuse ends the
session, logout ends it, a deactivated account gets no new token; every write audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.db import sessions as sessions_repo
from chalicelib.db import users as users_repo
from chalicelib.errors import Unauthenticated
from chalicelib.resources import ResourceNames
from chalicelib.services import auth, sessions, users
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from chalicelib.settings import get_settings, use_settings
from tests.cloud.builders import PASSWORD, bearer, make_user

JSON = {"Content-Type": "application/json"}


def post(api: Client, path: str, body: dict[str, object], headers: dict[str, str] | None = None) -> tuple[int, dict]:
    response = api.http.post(path, headers=JSON | (headers or {}), body=json.dumps(body))
    return response.status_code, response.json_body


def log_in(api: Client) -> dict:
    status, body = post(api, "/auth/login", {"email": "admin@demo.clinic", "password": PASSWORD})
    assert status == 200, body
    return body


def auth_header(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_login_starts_a_session_whose_refresh_token_is_replaced_at_every_use(cloud: ResourceNames, api: Client) -> None:
    user_id = make_user("demo", "admin@demo.clinic")
    first = log_in(api)
    assert first["refresh_expires_in"] == 12 * 3600
    sid = jwt.decode(first["access_token"], options={"verify_signature": False})["sid"]
    assert first["refresh_token"].startswith(f"{sid}.")

    status, second = post(api, "/auth/refresh", {"refresh_token": first["refresh_token"]})

    assert status == 200
    assert second["refresh_token"] != first["refresh_token"] and second["refresh_token"].startswith(f"{sid}.")
    assert 0 < second["refresh_expires_in"] <= first["refresh_expires_in"]  # refreshing does not extend the session
    claims = jwt.decode(second["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["clinic_id"], claims["role"], claims["sid"]) == (user_id, "demo", "admin", sid)
    assert api.http.get("/agents", headers=auth_header(second)).status_code == 200
    actions = [(e.action, e.outcome, e.target.get("session")) for e in audit_repo.list_day("demo", datetime.now(UTC))]
    assert ("auth.login", "success", sid) in actions and ("auth.refresh", "success", sid) in actions
    stored = json.dumps([e.model_dump(mode="json") for e in audit_repo.list_day("demo", datetime.now(UTC))])
    assert first["refresh_token"].split(".")[1] not in stored  # no secret in the audit log


def test_a_replaced_refresh_token_presented_again_ends_the_session(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", "admin@demo.clinic")
    first = log_in(api)
    _, second = post(api, "/auth/refresh", {"refresh_token": first["refresh_token"]})

    status, body = post(api, "/auth/refresh", {"refresh_token": first["refresh_token"]})  # a copy of the old one

    assert (status, body["code"]) == (401, "refresh_token_reused")
    status, body = post(api, "/auth/refresh", {"refresh_token": second["refresh_token"]})  # the legitimate one too
    assert (status, body["code"]) == (401, "session_ended")
    ends = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "auth.logout"]
    assert [(e.outcome, e.target["reason"]) for e in ends] == [("failure", "refresh_reuse")]


def test_logout_ends_the_session_and_its_access_tokens_at_once(cloud: ResourceNames, api: Client) -> None:
    user_id = make_user("demo", "admin@demo.clinic")
    tokens = log_in(api)

    status, body = post(api, "/auth/logout", {}, headers=auth_header(tokens))

    assert (status, body) == (200, {"status": "logged_out"})
    status, body = post(api, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert (status, body["code"]) == (401, "session_ended")
    # The access token of an ended session stops working at once, not after its 15 minutes.
    status, body = post(api, "/auth/logout", {}, headers=auth_header(tokens))
    assert (status, body["code"]) == (401, "session_ended")
    ends = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "auth.logout"]
    assert [(e.outcome, e.actor, e.target["reason"]) for e in ends] == [("success", f"user:{user_id}", "logout")]


def test_logout_needs_a_token_from_a_login(cloud: ResourceNames, api: Client) -> None:
    assert post(api, "/auth/logout", {})[0] == 401
    status, body = post(api, "/auth/logout", {}, headers=bearer("demo"))  # minted by a tool: no session
    assert status == 422 and "no session" in body["message"]


@pytest.mark.parametrize(
    "token",
    ["", "nonsense", "0" * 32 + "." + "A" * 43, "x" * 300],
)
def test_bad_refresh_tokens_are_4xx_never_500(cloud: ResourceNames, api: Client, token: str) -> None:
    status, body = post(api, "/auth/refresh", {"refresh_token": token})
    assert status in (401, 422), body
    assert body["code"] in {"invalid_refresh_token", "invalid_request"} and body["message"]


def logout_reasons() -> list[tuple[str, str]]:
    ends = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "auth.logout"]
    return [(e.outcome, e.target["reason"]) for e in ends]


def test_a_right_session_id_with_a_wrong_secret_ends_the_session(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", "admin@demo.clinic")
    tokens = log_in(api)
    sid = tokens["refresh_token"].split(".")[0]

    status, body = post(api, "/auth/refresh", {"refresh_token": f"{sid}.{'B' * 43}"})

    assert (status, body["code"]) == (401, "refresh_token_reused")
    status, body = post(api, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert (status, body["code"]) == (401, "session_ended")
    assert logout_reasons() == [("failure", "refresh_unknown_secret")]


def test_an_older_token_than_the_previous_one_still_ends_the_session(cloud: ResourceNames, api: Client) -> None:
    """A thief holding T1 refreshes twice (T1 → T2 → T3): the victim's T1 must end the session on T3."""
    make_user("demo", "admin@demo.clinic")
    t1 = log_in(api)
    _, t2 = post(api, "/auth/refresh", {"refresh_token": t1["refresh_token"]})
    _, t3 = post(api, "/auth/refresh", {"refresh_token": t2["refresh_token"]})

    status, body = post(api, "/auth/refresh", {"refresh_token": t1["refresh_token"]})

    assert (status, body["code"]) == (401, "refresh_token_reused")
    status, body = post(api, "/auth/refresh", {"refresh_token": t3["refresh_token"]})
    assert (status, body["code"]) == (401, "session_ended")
    assert logout_reasons() == [("failure", "refresh_unknown_secret")]


def test_the_loser_of_two_concurrent_refreshes_ends_the_session(
    cloud: ResourceNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both callers read the session before either rotates it: the second rotation fails its condition."""
    make_user("demo", "admin@demo.clinic")
    now = datetime.now(UTC)
    token = auth.login("admin@demo.clinic", PASSWORD, now=now).refresh_token
    sid = token.split(".")[0]
    before = sessions_repo.get(sid)
    winner = sessions.refresh(token, now=now)  # the other caller got in first
    reads = iter([before])  # the loser read the session before the winner rotated it
    real_get = sessions_repo.get
    monkeypatch.setattr(sessions_repo, "get", lambda session_id: next(reads, None) or real_get(session_id))

    with pytest.raises(Unauthenticated) as caught:
        sessions.refresh(token, now=now)

    assert caught.value.code == "refresh_token_reused"
    stored = real_get(sid)
    assert stored is not None and stored.ended_at is not None
    with pytest.raises(Unauthenticated) as caught:
        sessions.refresh(winner.refresh_token, now=now)
    assert caught.value.code == "session_ended"
    assert logout_reasons() == [("failure", "refresh_race")]


def test_a_deactivated_account_gets_no_new_token_and_a_new_role_takes_effect(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", "admin@demo.clinic")
    tokens = log_in(api)
    user = users_repo.get("demo", "admin@demo.clinic")
    assert user is not None
    admin = Scope.system("demo", "system:test")
    users.update(admin, user.user_id, role=Role.NURSE)
    status, body = post(api, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert status == 200 and jwt.decode(body["access_token"], options={"verify_signature": False})["role"] == "nurse"

    users.deactivate(admin, user.user_id)
    status, body = post(api, "/auth/refresh", {"refresh_token": body["refresh_token"]})
    assert (status, body["code"]) == (401, "session_ended")


def test_a_session_ends_after_its_lifetime(cloud: ResourceNames) -> None:
    use_settings(get_settings().model_copy(update={"session_hours": 1}))
    make_user("demo", "admin@demo.clinic")
    start = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    tokens = auth.login("admin@demo.clinic", PASSWORD, now=start)
    later = sessions.refresh(tokens.refresh_token, now=start + timedelta(minutes=59))
    assert later.refresh_expires_in == 60
    with pytest.raises(Unauthenticated) as caught:
        sessions.refresh(later.refresh_token, now=start + timedelta(hours=1))
    assert caught.value.code == "session_ended"
