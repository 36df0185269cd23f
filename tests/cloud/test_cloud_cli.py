"""`python -m chalicelib.cli`: create-admin reads the password from an environment variable."""

from __future__ import annotations

import pytest

from chalicelib.cli import main
from chalicelib.db import users as users_repo
from chalicelib.resources import ResourceNames
from tests.cloud.builders import PASSWORD


def test_create_admin(
    cloud: ResourceNames, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_PW", PASSWORD)
    assert main(["create-admin", "--clinic", "demo", "--email", "Boss@Demo.Clinic", "--password-env", "ADMIN_PW"]) == 0
    user = users_repo.get("demo", "boss@demo.clinic")
    assert user is not None and user.role == "admin"
    assert PASSWORD not in capsys.readouterr().out


def test_create_admin_without_password_variable(cloud: ResourceNames, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    assert main(["create-admin", "--clinic", "demo", "--email", "a@demo.clinic", "--password-env", "NOPE"]) == 2


def test_create_admin_rejects_a_weak_password(cloud: ResourceNames, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PW", "short")
    assert main(["create-admin", "--clinic", "demo", "--email", "a@demo.clinic", "--password-env", "ADMIN_PW"]) == 1
