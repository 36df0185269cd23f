"""`python -m chalicelib.cli`: create-admin reads the password from an environment variable; vapid-keys makes a pair."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from chalicelib import vapid
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


def test_vapid_keys_prints_a_matching_pair_or_writes_a_private_pem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["vapid-keys"]) == 0
    printed = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert vapid.public_key_of(printed["MEDFLOW_VAPID_PRIVATE_KEY"]) == printed["MEDFLOW_VAPID_PUBLIC_KEY"]

    out = tmp_path / "vapid" / "key.pem"
    assert main(["vapid-keys", "--out", str(out)]) == 0
    printed = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert set(printed) == {"MEDFLOW_VAPID_KEY_FILE", "MEDFLOW_VAPID_PUBLIC_KEY"}  # the private key stays in the file
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert vapid.public_key_of(vapid.read_key_file(out)) == printed["MEDFLOW_VAPID_PUBLIC_KEY"]
    assert main(["vapid-keys", "--out", str(out)]) == 1  # never overwrites a key subscriptions depend on
