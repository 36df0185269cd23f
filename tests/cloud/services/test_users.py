"""ensure_admin: idempotent creation, password reset, one clinic per email."""

from __future__ import annotations

import pytest

from chalicelib.db import users as users_repo
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.resources import ResourceNames
from chalicelib.services import auth, clinics
from chalicelib.services.scope import Scope
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


def test_an_email_belongs_to_one_organisation_and_may_join_several_of_its_clinics(cloud: ResourceNames) -> None:
    # The contract changed: an account may belong to several clinics of its organisation (issue 11 §2).
    ensure_admin("demo", "admin@demo.clinic", PASSWORD)
    ensure_admin("branch", "admin@demo.clinic", PASSWORD)
    assert [u.clinic_id for u in users_repo.find_by_email("admin@demo.clinic")] == ["branch", "demo"]
    elsewhere = Scope.system("acme-hq", "cli", org_id="acme", org_admin=True)
    clinics.create(elsewhere, name="Acme", clinic_id="acme-1")
    with pytest.raises(Conflict):
        ensure_admin("acme-1", "admin@demo.clinic", PASSWORD)


@pytest.mark.parametrize(
    ("clinic", "email", "password"),
    [("de mo", "a@demo.clinic", PASSWORD), ("demo", "not-an-email", PASSWORD), ("demo", "a@demo.clinic", "short")],
)
def test_bad_input_is_rejected(cloud: ResourceNames, clinic: str, email: str, password: str) -> None:
    with pytest.raises(InvalidInput):
        ensure_admin(clinic, email, password)
