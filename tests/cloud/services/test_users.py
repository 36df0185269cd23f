"""ensure_admin: idempotent creation, password reset, one clinic per email."""

from __future__ import annotations

import pytest

from chalicelib.db import users as users_repo
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.resources import ResourceNames
from chalicelib.services import auth
from chalicelib.services.users import ensure_admin
from tests.cloud.builders import PASSWORD


def test_ensure_admin_creates_then_resets(cloud: ResourceNames) -> None:
    first = ensure_admin("demo", "admin@demo.clinic", PASSWORD)
    second = ensure_admin("demo", "ADMIN@demo.clinic", "a brand new passphrase")

    assert first == second
    assert len(users_repo.find_by_email("admin@demo.clinic")) == 1
    auth.login("admin@demo.clinic", "a brand new passphrase")
    with pytest.raises(auth.Unauthenticated):
        auth.login("admin@demo.clinic", PASSWORD)


def test_password_is_stored_as_argon2id(cloud: ResourceNames) -> None:
    ensure_admin("demo", "admin@demo.clinic", PASSWORD)
    user = users_repo.get("demo", "admin@demo.clinic")
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in repr(user)


def test_an_email_belongs_to_one_clinic(cloud: ResourceNames) -> None:
    ensure_admin("demo", "admin@demo.clinic", PASSWORD)
    with pytest.raises(Conflict):
        ensure_admin("other", "admin@demo.clinic", PASSWORD)


@pytest.mark.parametrize(
    ("clinic", "email", "password"),
    [("de mo", "a@demo.clinic", PASSWORD), ("demo", "not-an-email", PASSWORD), ("demo", "a@demo.clinic", "short")],
)
def test_bad_input_is_rejected(cloud: ResourceNames, clinic: str, email: str, password: str) -> None:
    with pytest.raises(InvalidInput):
        ensure_admin(clinic, email, password)
