"""Settings from the environment: local defaults, a real secret required elsewhere, errors naming the variable."""

from __future__ import annotations

import pytest

from chalicelib.settings import LOCAL_JWT_SECRET, Settings, SettingsError

SECRET = "x" * 40


def test_local_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.login_max_attempts, settings.login_window_minutes, settings.session_hours) == (10, 15, 12)
    assert settings.stage == "local"
    assert settings.endpoint_url is None
    assert settings.jwt_secret.get_secret_value() == LOCAL_JWT_SECRET
    assert settings.names.queue == "medflow-local-ingest"


def test_environment_is_read() -> None:
    settings = Settings.from_env(
        {
            "MEDFLOW_STAGE": "prod",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5100",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "MEDFLOW_JWT_SECRET": SECRET,
            "MEDFLOW_ACCESS_TOKEN_MINUTES": "5",
            "MEDFLOW_INGEST_BUCKET": "acme-ingest",
            "MEDFLOW_SESSION_HOURS": "8",
            "MEDFLOW_LOGIN_MAX_ATTEMPTS": "6",
            "MEDFLOW_LOGIN_WINDOW_MINUTES": "30",
        }
    )
    assert (settings.stage, settings.region, settings.access_token_minutes) == ("prod", "eu-west-1", 5)
    assert (settings.login_max_attempts, settings.login_window_minutes, settings.session_hours) == (6, 30, 8)
    assert settings.endpoint_url == "http://127.0.0.1:5100"
    assert settings.names.bucket == "acme-ingest"
    assert settings.names.table("clinical") == "medflow-prod-clinical"


@pytest.mark.parametrize("secret", [None, LOCAL_JWT_SECRET, "short"])
def test_outside_local_a_real_secret_is_required(secret: str | None) -> None:
    env = {"MEDFLOW_STAGE": "prod"} | ({"MEDFLOW_JWT_SECRET": secret} if secret else {})
    with pytest.raises(SettingsError, match="MEDFLOW_JWT_SECRET") as caught:
        Settings.from_env(env)
    if secret:
        assert secret not in str(caught.value)


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="MEDFLOW_ACCESS_TOKEN_MINUTES"):
        Settings.from_env({"MEDFLOW_ACCESS_TOKEN_MINUTES": "forever"})
    with pytest.raises(SettingsError, match="MEDFLOW_STAGE"):
        Settings.from_env({"MEDFLOW_STAGE": "Prod Stage"})
    with pytest.raises(SettingsError, match="MEDFLOW_LOGIN_MAX_ATTEMPTS"):
        Settings.from_env({"MEDFLOW_LOGIN_MAX_ATTEMPTS": "0"})
    with pytest.raises(SettingsError, match="MEDFLOW_LOGIN_WINDOW_MINUTES"):
        Settings.from_env({"MEDFLOW_LOGIN_WINDOW_MINUTES": "soon"})
