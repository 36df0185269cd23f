"""A user's sessions (seed 003 §6.4) over the app (chalice.test.Client, moto): listed with device, IP and last
activity; ended by an admin (force logout), by the user, by deactivation and by password changes; an ended
session's access tokens stop at once; every end audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.db import events as events_repo
from chalicelib.db import sessions as sessions_repo
from chalicelib.resources import ResourceNames, table_spec
from chalicelib.services import sessions, tokens
from chalicelib.services.roles import Role
from tests.cloud.api.staff_helpers import JSON, call, login
from tests.cloud.builders import PASSWORD, make_user

ADMIN, NURSE = "admin@demo.clinic", "nurse@demo.clinic"


def sid(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["sid"])


def login_as(api: Client, email: str, agent: str = "pytest-browser/1.0") -> dict[str, Any]:
    response = api.http.post(
        "/auth/login", headers=JSON | {"User-Agent": agent}, body=f'{{"email": "{email}", "password": "{PASSWORD}"}}'
    )
    assert response.status_code == 200, response.json_body
    return dict(response.json_body)


def actions(clinic_id: str = "demo") -> list[Any]:
    return audit_repo.list_day(clinic_id, datetime.now(UTC))


def test_the_sessions_table_has_the_by_user_index() -> None:
    index = next(i for i in table_spec("sessions").indexes if i.name == "by_user")
    assert (index.kind, index.hash_key, index.range_key) == ("global", "user_pk", "user_sk")


def test_own_sessions_are_listed_newest_first_with_device_ip_and_the_current_one(
    cloud: ResourceNames, api: Client
) -> None:
    make_user("demo", ADMIN)
    first = login_as(api, ADMIN, agent="laptop-browser " + "x" * 400)
    second = login_as(api, ADMIN, agent="reception-tablet")

    status, body = call(api, "GET", "/auth/sessions", token=second["access_token"])

    assert status == 200
    assert [s["id"] for s in body["items"]] == [sid(second["access_token"]), sid(first["access_token"])]
    newest, oldest = body["items"]
    assert (newest["device"], newest["current"], oldest["current"]) == ("reception-tablet", True, False)
    assert len(oldest["device"]) == 256 and oldest["device"].startswith("laptop-browser")
    assert newest["ip"] == "127.0.0.1" and newest["last_activity_at"] and newest["ended_at"] is None
    assert "secret_sha256" not in newest and "refresh" not in str(body)
    status, page = call(api, "GET", "/auth/sessions?limit=1", token=second["access_token"])
    assert status == 200 and len(page["items"]) == 1 and page["next"]
    status, rest = call(api, "GET", f"/auth/sessions?limit=1&next={page['next']}", token=second["access_token"])
    assert [s["id"] for s in rest["items"]] == [sid(first["access_token"])]


def test_an_admin_lists_a_users_sessions_others_may_not(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", ADMIN)
    nurse_id = make_user("demo", NURSE, Role.NURSE)
    make_user("other", "admin@other.clinic")
    admin = login_as(api, ADMIN)["access_token"]
    nurse = login_as(api, NURSE)["access_token"]

    status, body = call(api, "GET", f"/users/{nurse_id}/sessions", token=admin)

    assert status == 200 and [s["id"] for s in body["items"]] == [sid(nurse)]
    assert body["items"][0]["current"] is False
    assert call(api, "GET", f"/users/{nurse_id}/sessions", token=nurse)[0] == 403
    other = login_as(api, "admin@other.clinic")["access_token"]
    status, body = call(api, "GET", f"/users/{nurse_id}/sessions", token=other)
    assert (status, body["code"]) == (404, "not_found")


def test_an_admin_ends_every_session_of_a_user_and_their_tokens_stop_at_once(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", ADMIN)
    nurse_id = make_user("demo", NURSE, Role.NURSE)
    admin = login_as(api, ADMIN)["access_token"]
    one, two = login_as(api, NURSE), login_as(api, NURSE)
    assert call(api, "GET", "/auth/sessions", token=one["access_token"])[0] == 200

    status, body = call(api, "POST", f"/users/{nurse_id}/sessions/end", {}, token=admin)

    assert (status, body) == (200, {"status": "sessions_ended", "ended": 2})
    for tokens_ in (one, two):
        status, body = call(api, "GET", "/auth/sessions", token=tokens_["access_token"])
        assert (status, body["code"]) == (401, "session_ended")
        status, body = call(api, "POST", "/auth/refresh", {"refresh_token": tokens_["refresh_token"]})
        assert (status, body["code"]) == (401, "session_ended")
    assert call(api, "GET", "/agents", token=admin)[0] == 200  # the admin's own session is untouched
    ended = [e for e in actions() if e.action == "user.sessions_ended"]
    assert len(ended) == 1 and ended[0].resource_id == nurse_id and ended[0].actor.startswith("user:")
    assert set(ended[0].target["sessions"].split(",")) == {sid(one["access_token"]), sid(two["access_token"])}
    assert ended[0].target["reason"] == "ended_by_admin"
    event_types = [e.type for e in events_repo.after("demo", None, limit=100, next_token=None).items]
    assert "user.sessions_ended" in event_types
    status, body = call(api, "GET", f"/users/{nurse_id}/sessions", token=admin)
    assert {s["end_reason"] for s in body["items"]} == {"ended_by_admin"}
    assert all(s["ended_at"] for s in body["items"])
    status, body = call(api, "POST", f"/users/{nurse_id}/sessions/end", {}, token=admin)  # nothing left to end
    assert (status, body["ended"]) == (200, 0)


def test_ending_sessions_needs_an_admin_of_the_users_clinic(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", ADMIN)
    nurse_id = make_user("demo", NURSE, Role.NURSE)
    make_user("other", "admin@other.clinic")
    nurse = login_as(api, NURSE)
    other = login_as(api, "admin@other.clinic")["access_token"]

    assert call(api, "POST", f"/users/{nurse_id}/sessions/end", {}, token=other)[0] == 404
    assert call(api, "POST", f"/users/{nurse_id}/sessions/end", {}, token=nurse["access_token"])[0] == 403
    assert call(api, "POST", f"/users/{nurse_id}/sessions/end", {"all": True}, token=other)[0] == 422
    assert call(api, "GET", "/auth/sessions", token=nurse["access_token"])[0] == 200


def test_a_user_ends_one_of_its_own_sessions_but_not_someone_elses(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", ADMIN)
    make_user("demo", NURSE, Role.NURSE)
    laptop, phone = login_as(api, NURSE), login_as(api, NURSE)
    admin = login_as(api, ADMIN)

    status, body = call(api, "POST", f"/auth/sessions/{sid(laptop['access_token'])}/end", token=phone["access_token"])

    assert (status, body["status"]) == (200, "ended")
    assert call(api, "GET", "/auth/sessions", token=laptop["access_token"])[1]["code"] == "session_ended"
    assert call(api, "GET", "/auth/sessions", token=phone["access_token"])[0] == 200
    status, body = call(api, "POST", f"/auth/sessions/{sid(admin['access_token'])}/end", token=phone["access_token"])
    assert (status, body["code"]) == (404, "not_found")
    assert call(api, "GET", "/agents", token=admin["access_token"])[0] == 200
    assert call(api, "POST", "/auth/sessions/not-a-session/end", token=phone["access_token"])[0] == 404
    entry = next(e for e in actions() if e.action == "auth.session_ended")
    assert entry.resource_id == sid(laptop["access_token"]) and entry.source_ip == "127.0.0.1"


def test_deactivation_and_an_admin_password_reset_end_the_users_sessions(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", ADMIN)
    nurse_id = make_user("demo", NURSE, Role.NURSE)
    admin = login_as(api, ADMIN)["access_token"]
    before_reset = login_as(api, NURSE)

    status, _ = call(api, "POST", f"/users/{nurse_id}/reset-password", {"password": "a brand new passphrase 1"},
                     token=admin)  # fmt: skip

    assert status == 200
    assert call(api, "GET", "/auth/sessions", token=before_reset["access_token"])[1]["code"] == "session_ended"
    after_reset = login(api, NURSE, "a brand new passphrase 1")[1]
    assert call(api, "POST", f"/users/{nurse_id}/deactivate", token=admin)[0] == 200
    assert call(api, "GET", "/auth/sessions", token=after_reset["access_token"])[1]["code"] == "session_ended"
    reasons = [e.target["reason"] for e in actions() if e.action == "user.sessions_ended"]
    assert reasons == ["password_reset", "deactivated"]


def test_a_password_change_ends_every_other_session_of_the_user(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", NURSE, Role.NURSE)
    other, current = login_as(api, NURSE), login_as(api, NURSE)

    status, _ = call(api, "POST", "/auth/change-password",
                     {"old_password": PASSWORD, "new_password": "another long passphrase 2"},
                     token=current["access_token"])  # fmt: skip

    assert status == 200
    assert call(api, "GET", "/auth/sessions", token=other["access_token"])[1]["code"] == "session_ended"
    status, body = call(api, "GET", "/auth/sessions", token=current["access_token"])
    assert status == 200
    assert [(s["current"], s["end_reason"]) for s in body["items"]] == [(True, None), (False, "password_changed")]


def test_last_activity_is_written_at_most_once_a_minute(
    cloud: ResourceNames, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id = make_user("demo", NURSE, Role.NURSE)
    session_id = sid(login_as(api, NURSE)["access_token"])
    started = sessions_repo.get(session_id)
    assert started is not None and started.last_activity_at is not None
    t0 = started.last_activity_at
    principal = tokens.Principal(user_id, "demo", Role.NURSE, "jti", session_id=session_id)
    writes: list[datetime] = []
    real_touch = sessions_repo.touch

    def counting_touch(session: str, at: datetime) -> bool:
        written = real_touch(session, at)
        if written:
            writes.append(at)
        return written

    monkeypatch.setattr(sessions_repo, "touch", counting_touch)
    for seconds in (1, 30, 59, 61, 62, 90, 120, 121):
        sessions.check_live(principal, now=t0 + timedelta(seconds=seconds))
    monkeypatch.setattr(sessions_repo, "touch", real_touch)

    assert writes == [t0 + timedelta(seconds=61), t0 + timedelta(seconds=121)]
    stored = sessions_repo.get(session_id)
    assert stored is not None and stored.last_activity_at == t0 + timedelta(seconds=121)
    # Two instances racing with the same stale view: the condition lets only one write.
    late = t0 + timedelta(seconds=200)
    assert [sessions_repo.touch(session_id, late), sessions_repo.touch(session_id, late)] == [True, False]
