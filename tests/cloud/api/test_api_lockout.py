"""Lockout: 5 wrong passwords lock an account for 15 minutes (423 + Retry-After), alike for unknown emails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.errors import Locked, Unauthenticated
from chalicelib.resources import ResourceNames
from chalicelib.services import auth
from chalicelib.services.users import ensure_admin
from chalicelib.settings import get_settings, use_settings
from tests.cloud.api.staff_helpers import call, login, token
from tests.cloud.builders import PASSWORD, make_user

WRONG = "wrong password!"


@pytest.fixture(autouse=True)
def _lockout_alone(cloud: ResourceNames) -> None:
    """The per-email login delay (services/auth.py) is a separate layer: far off here, to see the lock alone."""
    use_settings(get_settings().model_copy(update={"login_max_attempts": 100}))


def test_five_wrong_passwords_lock_the_account_and_an_admin_unlocks(cloud: ResourceNames, api: Client) -> None:
    ensure_admin("demo", "admin@demo.clinic", PASSWORD)
    user_id = make_user("demo", "nurse@demo.clinic")
    admin = token(api, "admin@demo.clinic")

    assert [login(api, "nurse@demo.clinic", WRONG)[0] for _ in range(5)] == [401] * 5
    response = api.http.post("/auth/login", headers={"Content-Type": "application/json"},
                             body=f'{{"email": "nurse@demo.clinic", "password": "{PASSWORD}"}}')  # fmt: skip

    assert response.status_code == 423
    assert response.json_body["code"] == "account_locked"
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    locked = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "auth.account_locked"]
    assert [e.actor for e in locked] == [f"user:{user_id}"] and "nurse@" not in str(locked[0].target)

    assert call(api, "POST", f"/users/{user_id}/unlock", token=admin) == (200, {"status": "unlocked"})
    assert login(api, "nurse@demo.clinic", PASSWORD)[0] == 200


def test_an_unknown_email_gets_the_same_lock_answer(cloud: ResourceNames, api: Client) -> None:
    make_user("demo", "nurse@demo.clinic")
    for email in ("nurse@demo.clinic", "ghost@demo.clinic"):
        for _ in range(5):
            login(api, email, WRONG)
    known, unknown = login(api, "nurse@demo.clinic", PASSWORD), login(api, "ghost@demo.clinic", PASSWORD)
    assert known[0] == unknown[0] == 423
    assert known[1]["code"] == unknown[1]["code"] == "account_locked"
    assert known[1]["message"].split(" in ")[0] == unknown[1]["message"].split(" in ")[0]


def test_the_lock_ends_after_15_minutes_and_old_failures_are_forgotten(cloud: ResourceNames) -> None:
    make_user("demo", "nurse@demo.clinic")
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    for minute in range(4):
        with pytest.raises(Unauthenticated):
            auth.login("nurse@demo.clinic", WRONG, now=start + timedelta(minutes=minute))
    with pytest.raises(Unauthenticated):  # the 5th failure 20 minutes later starts a new count
        auth.login("nurse@demo.clinic", WRONG, now=start + timedelta(minutes=20))
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            auth.login("nurse@demo.clinic", WRONG, now=start + timedelta(minutes=21))
    with pytest.raises(Locked) as caught:
        auth.login("nurse@demo.clinic", PASSWORD, now=start + timedelta(minutes=30))
    assert caught.value.retry_after == 6 * 60
    assert auth.login("nurse@demo.clinic", PASSWORD, now=start + timedelta(minutes=36)).refresh_token
