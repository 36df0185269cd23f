"""Settings from the environment: the stage is required, the local key only against a local emulator, the deployed
key from an SSM SecureString, errors naming the variable and never echoing a secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import vapid
from chalicelib.settings import LOCAL_JWT_SECRET, Settings, SettingsError, is_loopback

SECRET = "x" * 40
LOCAL = {"MEDFLOW_STAGE": "local", "AWS_ENDPOINT_URL": "http://127.0.0.1:5100"}
PARAMETER = "/medflow/prod/jwt-secret"


def test_local_defaults_against_a_local_emulator() -> None:
    settings = Settings.from_env(LOCAL)
    assert (settings.login_max_attempts, settings.login_window_minutes, settings.session_hours) == (5, 15, 12)
    assert (settings.login_delay_seconds, settings.login_max_delay_minutes) == (30, 15)
    assert (settings.login_ip_attempts, settings.login_global_attempts) == (100, 2000)
    assert settings.stage == "local" and settings.local_emulator
    assert settings.jwt_secret.get_secret_value() == LOCAL_JWT_SECRET
    assert settings.names.queue == "medflow-local-ingest"


def test_a_deployment_without_a_stage_refuses_to_start() -> None:
    """It used to fall back to `local`, whose published key then signed and accepted admin tokens."""
    for env in ({}, {"MEDFLOW_JWT_SECRET": SECRET}, {"AWS_ENDPOINT_URL": "http://127.0.0.1:5100"}):
        with pytest.raises(SettingsError, match="MEDFLOW_STAGE is not set"):
            Settings.from_env(env)


@pytest.mark.parametrize("endpoint", [None, "https://dynamodb.eu-west-1.amazonaws.com", "http://10.0.0.8:4566"])
def test_the_local_key_is_refused_unless_stage_local_talks_to_an_emulator(endpoint: str | None) -> None:
    env = {"MEDFLOW_STAGE": "local"} | ({"AWS_ENDPOINT_URL": endpoint} if endpoint else {})
    with pytest.raises(SettingsError, match="MEDFLOW_JWT_SECRET"):
        Settings.from_env(env | {"MEDFLOW_JWT_SECRET": LOCAL_JWT_SECRET})
    with pytest.raises(SettingsError, match="MEDFLOW_JWT_SECRET"):  # no default key either
        Settings.from_env(env).jwt_secret.get_secret_value()


def test_the_local_key_is_refused_on_any_other_stage_even_against_an_emulator() -> None:
    with pytest.raises(SettingsError, match="MEDFLOW_JWT_SECRET") as caught:
        Settings.from_env(LOCAL | {"MEDFLOW_STAGE": "prod", "MEDFLOW_JWT_SECRET": LOCAL_JWT_SECRET})
    assert LOCAL_JWT_SECRET not in str(caught.value)
    with pytest.raises(SettingsError, match="MEDFLOW_JWT_SECRET"):
        Settings.from_env(LOCAL | {"MEDFLOW_STAGE": "prod"}).jwt_secret.get_secret_value()


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:5100", True),
        ("http://localhost:4566", True),
        ("http://[::1]:5100", True),
        ("http://127.8.0.1", True),
        ("http://localhost.localstack.cloud:4566", False),  # a DNS name anyone can point elsewhere
        ("http://192.168.1.4:5100", False),
        ("https://s3.amazonaws.com", False),
        (None, False),
    ],
)
def test_loopback_means_this_machine(url: str | None, loopback: bool) -> None:
    assert is_loopback(url) is loopback


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
            "MEDFLOW_LOGIN_DELAY_SECONDS": "10",
            "MEDFLOW_LOGIN_MAX_DELAY_MINUTES": "60",
            "MEDFLOW_LOGIN_IP_ATTEMPTS": "40",
            "MEDFLOW_LOGIN_GLOBAL_ATTEMPTS": "900",
        }
    )
    assert (settings.login_delay_seconds, settings.login_max_delay_minutes) == (10, 60)
    assert (settings.login_ip_attempts, settings.login_global_attempts) == (40, 900)
    assert (settings.stage, settings.region, settings.access_token_minutes) == ("prod", "eu-west-1", 5)
    assert (settings.login_max_attempts, settings.login_window_minutes, settings.session_hours) == (6, 30, 8)
    assert settings.endpoint_url == "http://127.0.0.1:5100"
    assert settings.names.bucket == "acme-ingest"
    assert settings.names.table("clinical") == "medflow-prod-clinical"


def test_a_short_secret_is_refused_without_being_echoed() -> None:
    with pytest.raises(SettingsError, match="MEDFLOW_JWT_SECRET") as caught:
        Settings.from_env({"MEDFLOW_STAGE": "prod", "MEDFLOW_JWT_SECRET": "short-secret"})
    assert "short-secret" not in str(caught.value)


def test_a_function_without_a_key_starts_but_refuses_to_sign() -> None:
    """The ingest function: no key in its environment, and none needed."""
    settings = Settings.from_env({"MEDFLOW_STAGE": "prod"})
    with pytest.raises(SettingsError, match="MEDFLOW_JWT_SECRET_PARAM"):
        settings.jwt_secret.get_secret_value()


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name="eu-west-1")


def test_the_key_is_read_from_an_ssm_secure_string(ssm: Any) -> None:
    ssm.put_parameter(Name=PARAMETER, Value=SECRET, Type="SecureString")
    env = {"MEDFLOW_STAGE": "prod", "AWS_DEFAULT_REGION": "eu-west-1", "MEDFLOW_JWT_SECRET_PARAM": PARAMETER}

    settings = Settings.from_env(env)  # builds its own client, as the API's cold start does

    assert settings.jwt_secret.get_secret_value() == SECRET


def test_a_plain_string_parameter_or_a_missing_one_is_refused(ssm: Any) -> None:
    ssm.put_parameter(Name=PARAMETER, Value=SECRET, Type="String")
    env = {"MEDFLOW_STAGE": "prod", "AWS_DEFAULT_REGION": "eu-west-1", "MEDFLOW_JWT_SECRET_PARAM": PARAMETER}
    with pytest.raises(SettingsError, match="must be a SecureString") as caught:
        Settings.from_env(env, ssm=ssm)
    assert SECRET not in str(caught.value)
    with pytest.raises(SettingsError, match="cannot be read"):
        Settings.from_env(env | {"MEDFLOW_JWT_SECRET_PARAM": "/medflow/prod/nothing"}, ssm=ssm)
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env(env | {"MEDFLOW_JWT_SECRET": SECRET}, ssm=ssm)


def test_a_short_key_in_ssm_is_refused_too(ssm: Any) -> None:
    ssm.put_parameter(Name=PARAMETER, Value="short", Type="SecureString")
    env = {"MEDFLOW_STAGE": "prod", "AWS_DEFAULT_REGION": "eu-west-1", "MEDFLOW_JWT_SECRET_PARAM": PARAMETER}
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env(env, ssm=ssm)


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="MEDFLOW_ACCESS_TOKEN_MINUTES"):
        Settings.from_env(LOCAL | {"MEDFLOW_ACCESS_TOKEN_MINUTES": "forever"})
    with pytest.raises(SettingsError, match="MEDFLOW_STAGE"):
        Settings.from_env({"MEDFLOW_STAGE": "Prod Stage"})
    with pytest.raises(SettingsError, match="MEDFLOW_LOGIN_MAX_ATTEMPTS"):
        Settings.from_env(LOCAL | {"MEDFLOW_LOGIN_MAX_ATTEMPTS": "0"})
    with pytest.raises(SettingsError, match="MEDFLOW_LOGIN_WINDOW_MINUTES"):
        Settings.from_env(LOCAL | {"MEDFLOW_LOGIN_WINDOW_MINUTES": "soon"})


def test_vapid_keys_from_a_value_a_pem_file_or_ssm_and_the_public_key_derived(tmp_path: Any) -> None:
    private, public = vapid.generate()
    from_value = Settings.from_env(
        LOCAL | {"MEDFLOW_VAPID_PRIVATE_KEY": private, "MEDFLOW_VAPID_SUBJECT": "mailto:a@b.c"}
    )
    assert from_value.vapid_public_key == public and from_value.push_sender
    pem = tmp_path / "key.pem"
    pem.write_bytes(vapid.to_pem(private))
    assert Settings.from_env(LOCAL | {"MEDFLOW_VAPID_KEY_FILE": str(pem)}).vapid_public_key == public
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name="/medflow/prod/vapid", Value=private, Type="SecureString")
        env = {
            "MEDFLOW_STAGE": "prod",
            "MEDFLOW_JWT_SECRET": SECRET,
            "MEDFLOW_VAPID_PRIVATE_KEY_PARAM": "/medflow/prod/vapid",
        }
        assert Settings.from_env(env, ssm=ssm).vapid_public_key == public
    only_public = Settings.from_env(LOCAL | {"MEDFLOW_VAPID_PUBLIC_KEY": public})  # the API: no private key
    assert only_public.vapid_public_key == public and not only_public.push_sender


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"MEDFLOW_VAPID_PRIVATE_KEY": "AAAA"}, "MEDFLOW_VAPID_PRIVATE_KEY"),
        ({"MEDFLOW_VAPID_PUBLIC_KEY": "BAAA"}, "MEDFLOW_VAPID_PUBLIC_KEY"),
        (
            {"MEDFLOW_VAPID_PRIVATE_KEY": vapid.generate()[0], "MEDFLOW_VAPID_PUBLIC_KEY": vapid.generate()[1]},
            "does not belong",
        ),
        ({"MEDFLOW_VAPID_PRIVATE_KEY": vapid.generate()[0], "MEDFLOW_VAPID_KEY_FILE": "/x.pem"}, "not several"),
        ({"MEDFLOW_VAPID_KEY_FILE": "/nonexistent/key.pem"}, "MEDFLOW_VAPID_KEY_FILE"),
        ({"MEDFLOW_VAPID_SUBJECT": "admin@clinic"}, "MEDFLOW_VAPID_SUBJECT"),
    ],
)
def test_bad_vapid_settings_name_the_variable_and_never_echo_the_key(extra: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named) as raised:
        Settings.from_env(LOCAL | extra)
    private = extra.get("MEDFLOW_VAPID_PRIVATE_KEY")
    assert not private or private not in str(raised.value)


def test_the_scans_bucket_cors_follows_the_portal_url_unless_origins_are_given() -> None:
    portal = {**LOCAL, "MEDFLOW_PORTAL_URL": "https://portal.clinic.example/app/"}
    assert Settings.from_env(portal).portal_origins == ["https://portal.clinic.example"]
    assert Settings.from_env(LOCAL).portal_origins == ["http://localhost:5173"]
    both = {**portal, "MEDFLOW_PORTAL_ORIGIN": "https://portal.clinic.example,https://m.clinic.example/"}
    assert Settings.from_env(both).portal_origins == ["https://portal.clinic.example", "https://m.clinic.example"]
    with pytest.raises(SettingsError, match="MEDFLOW_PORTAL_ORIGIN"):
        Settings.from_env({**LOCAL, "MEDFLOW_PORTAL_ORIGIN": "portal.clinic.example"})


def test_the_claude_key_is_a_value_or_an_ssm_parameter_never_both() -> None:
    named = Settings.from_env({**LOCAL, "MEDFLOW_ANTHROPIC_KEY_PARAM": "/medflow/local/anthropic-api-key"})
    assert named.anthropic_api_key_param == "/medflow/local/anthropic-api-key" and named.anthropic_api_key is None
    with pytest.raises(SettingsError, match="not both") as refused:
        Settings.from_env({**LOCAL, "ANTHROPIC_API_KEY": "sk-secret-value", "MEDFLOW_ANTHROPIC_KEY_PARAM": "/p"})
    assert "sk-secret-value" not in str(refused.value)
    with pytest.raises(SettingsError, match="MEDFLOW_ANTHROPIC_KEY_PARAM"):
        Settings.from_env({**LOCAL, "MEDFLOW_ANTHROPIC_KEY_PARAM": "no-leading-slash"})
