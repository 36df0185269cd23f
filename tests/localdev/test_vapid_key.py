"""`make run` makes web push's VAPID key once (var/vapid/private_key.pem, 0600), keeps it, and hands it to the API
and the router through `cloud_env()`, from which the cloud's settings derive the public key."""

from __future__ import annotations

import stat
from pathlib import Path

from chalicelib.settings import Settings
from localdev.settings import LocalSettings
from localdev.stack import banner, ensure_vapid_key


def test_the_key_is_made_once_private_and_reaches_the_cloud_settings(tmp_path: Path) -> None:
    settings = LocalSettings(var_dir=tmp_path)
    assert "MEDFLOW_VAPID_KEY_FILE" not in settings.cloud_env()

    path = ensure_vapid_key(settings)
    first = path.read_bytes()
    assert ensure_vapid_key(settings).read_bytes() == first  # kept: subscriptions depend on it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    env = settings.cloud_env()
    assert env["MEDFLOW_VAPID_KEY_FILE"] == str(path)
    assert env["MEDFLOW_VAPID_SUBJECT"] == f"mailto:{settings.admin_email}"
    cloud = Settings.from_env(env)
    assert cloud.push_sender and cloud.vapid_public_key and len(cloud.vapid_public_key) == 87
    assert str(settings.vapid_key_file) in banner(settings)
