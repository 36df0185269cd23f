"""Cloud settings from environment variables, validated once (pydantic); every entry point reads them here.

| variable | default | meaning |
| --- | --- | --- |
| MEDFLOW_STAGE | (required) | stage; names every resource `medflow-{stage}-...` (no default: see below) |
| AWS_ENDPOINT_URL | (unset) | local AWS (moto server / LocalStack); unset means real AWS |
| AWS_DEFAULT_REGION (or AWS_REGION) | us-east-1 | region |
| MEDFLOW_JWT_SECRET_PARAM | (unset) | SSM SecureString with the HS256 key, read once (the API's cold start) |
| MEDFLOW_JWT_SECRET | local-only value on `local` + loopback endpoint | the key itself (≥ 32 chars): local and tests |
| MEDFLOW_ACCESS_TOKEN_MINUTES | 15 | access token lifetime |
| MEDFLOW_INGEST_BUCKET | medflow-{stage}-ingest | bucket name override (S3 names are global) |
| MEDFLOW_SESSION_HOURS | 12 | a login's lifetime: refresh tokens work until then (one clinic shift) |
| MEDFLOW_LOGIN_MAX_ATTEMPTS | 5 | failed logins per email before each further attempt must wait |
| MEDFLOW_LOGIN_DELAY_SECONDS | 30 | the first such wait, doubled with every further failure ... |
| MEDFLOW_LOGIN_MAX_DELAY_MINUTES | 15 | ... up to this |
| MEDFLOW_LOGIN_WINDOW_MINUTES | 15 | the window of the two limits below |
| MEDFLOW_LOGIN_IP_ATTEMPTS | 100 | login attempts per source IP and window |
| MEDFLOW_LOGIN_GLOBAL_ATTEMPTS | 2000 | login attempts in all per window |
| MEDFLOW_LOCKOUT_FAILURES | 5 | wrong passwords within the lockout period that lock an account; 0: none |
| MEDFLOW_LOCKOUT_MINUTES | 15 | that period, and how long the account stays locked |
| MEDFLOW_PORTAL_URL | http://localhost:5173 | the patient portal's origin: invite links are `{url}/register/{token}` |
| MEDFLOW_INVITE_IP_ATTEMPTS | 30 | invite checks and patient registrations per source IP and login window |
| MEDFLOW_ORG | medflow | the organisation of the first admin (`create-admin`) and of clinics it creates |
| MEDFLOW_SCANS_BUCKET | medflow-{stage}-scans | the scans bucket's name override (patient photos) |
| MEDFLOW_PORTAL_ORIGIN | (unset) | scans bucket CORS origins, comma-separated; unset: MEDFLOW_PORTAL_URL's origin |
| MEDFLOW_VAPID_PRIVATE_KEY | (unset) | web push: the VAPID private key, raw P-256 scalar, base64url (or one below) |
| MEDFLOW_VAPID_KEY_FILE | (unset) | ... or a PEM file holding it (`make run` writes var/vapid/private_key.pem) |
| MEDFLOW_VAPID_PRIVATE_KEY_PARAM | (unset) | ... or an SSM SecureString holding it (deployed: `notify` alone) |
| MEDFLOW_VAPID_PUBLIC_KEY | from the private key | the public key the portal subscribes with (all the API needs) |
| MEDFLOW_VAPID_SUBJECT | (unset) | `mailto:` or `https:` contact the push services may use (required to send) |
| MEDFLOW_PUSH_RETRY_SECONDS | 30 | first delay before a failed push is tried again (doubled each time, ≤ 15 min) |
| ANTHROPIC_API_KEY | (unset) | Claude API key for AI tag suggestions; unset: suggest answers 503 `ai_unavailable` |
| MEDFLOW_ANTHROPIC_KEY_PARAM | (unset) | ... or an SSM SecureString holding it, read at the first suggestion |
| ANTHROPIC_BASE_URL | https://api.anthropic.com | the Messages API's base URL (tests: a local stand-in) |
| MEDFLOW_AI_MODEL | claude-sonnet-5-5 | the vision model asked for tag suggestions |
| MEDFLOW_AI_TIMEOUT_SECONDS | 12 | one suggestion's whole budget (under the API function's 15 s); no retries |

A deployment that forgot its stage must not become `local`: there is no default stage. A function
given neither key (the ingest function: it never signs or checks a token) starts without
one; using it raises `SettingsError`, so a misconfigured API refuses every token rather than
inventing a key. The published local key is accepted only on stage `local` against an emulator on
this machine (a loopback `AWS_ENDPOINT_URL`): a stack that talks to real AWS never trusts it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from chalicelib.resources import ResourceNames

LOCAL_STAGE = "local"
# Only ever accepted on stage `local` (see the check below); printed by the local tooling.
LOCAL_JWT_SECRET = "local-dev-only-jwt-secret-change-me"  # noqa: S105 - documented local default
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """The environment does not describe a usable configuration; the message names the variable."""


class MissingSecret(SecretStr):
    """The key of a function that was given none: harmless until used, then a loud error (never a made-up key)."""

    def __init__(self) -> None:
        super().__init__("")

    def get_secret_value(self) -> str:
        raise SettingsError(
            "this function has no JWT signing key: set MEDFLOW_JWT_SECRET_PARAM (deployed) or MEDFLOW_JWT_SECRET"
        )


def is_loopback(url: str | None) -> bool:
    """True when `url` names this machine (an emulator), by address or as `localhost`."""
    host = urlsplit(url).hostname if url else None
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    region: str = "us-east-1"
    endpoint_url: str | None = None
    jwt_secret: SecretStr = Field(default_factory=MissingSecret)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    ingest_bucket: str | None = None
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    login_max_attempts: int = Field(default=5, ge=1, le=1000)
    login_delay_seconds: int = Field(default=30, ge=1, le=3600)
    login_max_delay_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_ip_attempts: int = Field(default=100, ge=1, le=1_000_000)
    login_global_attempts: int = Field(default=2000, ge=1, le=10_000_000)
    lockout_failures: int = Field(default=5, ge=0, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    org_id: str = Field(default="medflow", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    portal_url: str = Field(default="http://localhost:5173", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    invite_ip_attempts: int = Field(default=30, ge=1, le=1_000_000)
    scans_bucket: str | None = None
    portal_origin: str | None = Field(default=None, pattern=r"^https?://[^\s,]+(,https?://[^\s,]+)*$")
    vapid_private_key: SecretStr | None = None
    vapid_public_key: str | None = None
    vapid_subject: str | None = Field(default=None, pattern=r"^(mailto:[^\s@]+@[^\s@]+|https://[^\s]+)$")
    push_retry_seconds: int = Field(default=30, ge=0, le=3600)
    anthropic_api_key: SecretStr | None = None
    anthropic_api_key_param: str | None = Field(default=None, pattern=r"^/[A-Za-z0-9_.\-/]+$")
    anthropic_base_url: str = Field(default="https://api.anthropic.com", pattern=r"^https?://[^\s?#]+$")
    ai_model: str = Field(default="claude-sonnet-5-5", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$")
    ai_timeout_seconds: float = Field(default=12.0, gt=0, le=300)

    @property
    def local_emulator(self) -> bool:
        """Stage `local` against an emulator on this machine: the only place the published local key is trusted."""
        return self.stage == LOCAL_STAGE and is_loopback(self.endpoint_url)

    @model_validator(mode="after")
    def _secret_fits_stage(self) -> Settings:
        if isinstance(self.jwt_secret, MissingSecret):
            return self
        secret = self.jwt_secret.get_secret_value()
        if secret == LOCAL_JWT_SECRET and not self.local_emulator:
            raise ValueError(
                f"MEDFLOW_JWT_SECRET: the published local key is accepted only on stage {LOCAL_STAGE!r} "
                "with AWS_ENDPOINT_URL on a loopback address (an emulator); set a random value"
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"MEDFLOW_JWT_SECRET must be a random value of at least {MIN_SECRET_LENGTH} characters")
        return self

    @model_validator(mode="after")
    def _vapid_pair(self) -> Settings:
        from chalicelib import vapid  # cryptography: only when push is configured

        if self.vapid_private_key is not None:
            try:
                derived = vapid.public_key_of(self.vapid_private_key.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"MEDFLOW_VAPID_PRIVATE_KEY: {exc}") from None
            if self.vapid_public_key is not None and self.vapid_public_key.rstrip("=") != derived:
                raise ValueError("MEDFLOW_VAPID_PUBLIC_KEY does not belong to the VAPID private key")
            object.__setattr__(self, "vapid_public_key", derived)  # frozen model: set once, while validating
        elif self.vapid_public_key is not None:
            try:
                vapid.p256_point(self.vapid_public_key)
            except ValueError as exc:
                raise ValueError(f"MEDFLOW_VAPID_PUBLIC_KEY: {exc}") from None
        return self

    @property
    def push_sender(self) -> bool:
        """Everything a push sender needs: the private key and a contact subject."""
        return self.vapid_private_key is not None and self.vapid_subject is not None

    @property
    def names(self) -> ResourceNames:
        return ResourceNames.for_stage(self.stage, bucket=self.ingest_bucket, scans_bucket=self.scans_bucket)

    @property
    def portal_origins(self) -> list[str]:
        """The scans bucket's CORS origins: MEDFLOW_PORTAL_ORIGIN's, else the origin of MEDFLOW_PORTAL_URL."""
        if self.portal_origin:
            return [origin.rstrip("/") for origin in self.portal_origin.split(",")]
        scheme, rest = self.portal_url.split("://", 1)
        return [f"{scheme}://{rest.split('/', 1)[0]}"]

    @property
    def issuer(self) -> str:
        return f"medflow/{self.stage}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, ssm: Any = None) -> Settings:
        """The settings the environment describes; `ssm` (a boto3 client) is built when a parameter must be read."""
        env = os.environ if env is None else env
        if not env.get("MEDFLOW_STAGE"):
            raise SettingsError(
                "invalid cloud settings: MEDFLOW_STAGE is not set (every deployment names its stage; "
                f"the local tooling sets {LOCAL_STAGE!r})"
            )
        values: dict[str, object] = {
            "stage": env["MEDFLOW_STAGE"],
            "region": env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            "endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "ingest_bucket": env.get("MEDFLOW_INGEST_BUCKET") or None,
            "scans_bucket": env.get("MEDFLOW_SCANS_BUCKET") or None,
        }
        parameter = env.get("MEDFLOW_JWT_SECRET_PARAM")
        if parameter and env.get("MEDFLOW_JWT_SECRET"):
            raise SettingsError("invalid cloud settings: set MEDFLOW_JWT_SECRET_PARAM or MEDFLOW_JWT_SECRET, not both")
        if parameter:
            region, endpoint = str(values["region"]), values["endpoint_url"]
            values["jwt_secret"] = read_secure_parameter(
                parameter, ssm or boto3.client("ssm", region, endpoint_url=endpoint)
            )
        elif env.get("MEDFLOW_JWT_SECRET"):
            values["jwt_secret"] = env["MEDFLOW_JWT_SECRET"]
        elif values["stage"] == LOCAL_STAGE and is_loopback(env.get("AWS_ENDPOINT_URL")):
            values["jwt_secret"] = LOCAL_JWT_SECRET
        for field_name, variable in _ENV_NAMES.items():
            if field_name in _OPTIONAL_NUMBERS and env.get(variable):
                values[field_name] = env[variable]
        values.update(_vapid_from_env(env, values, ssm))
        if env.get("ANTHROPIC_API_KEY") and env.get("MEDFLOW_ANTHROPIC_KEY_PARAM"):
            raise SettingsError(
                "invalid cloud settings: set ANTHROPIC_API_KEY or MEDFLOW_ANTHROPIC_KEY_PARAM, not both"
            )
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None


_ENV_NAMES = {
    "stage": "MEDFLOW_STAGE",
    "region": "AWS_DEFAULT_REGION",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "jwt_secret": "MEDFLOW_JWT_SECRET",
    "access_token_minutes": "MEDFLOW_ACCESS_TOKEN_MINUTES",
    "ingest_bucket": "MEDFLOW_INGEST_BUCKET",
    "session_hours": "MEDFLOW_SESSION_HOURS",
    "login_max_attempts": "MEDFLOW_LOGIN_MAX_ATTEMPTS",
    "login_delay_seconds": "MEDFLOW_LOGIN_DELAY_SECONDS",
    "login_max_delay_minutes": "MEDFLOW_LOGIN_MAX_DELAY_MINUTES",
    "login_window_minutes": "MEDFLOW_LOGIN_WINDOW_MINUTES",
    "login_ip_attempts": "MEDFLOW_LOGIN_IP_ATTEMPTS",
    "login_global_attempts": "MEDFLOW_LOGIN_GLOBAL_ATTEMPTS",
    "lockout_failures": "MEDFLOW_LOCKOUT_FAILURES",
    "lockout_minutes": "MEDFLOW_LOCKOUT_MINUTES",
    "org_id": "MEDFLOW_ORG",
    "portal_url": "MEDFLOW_PORTAL_URL",
    "invite_ip_attempts": "MEDFLOW_INVITE_IP_ATTEMPTS",
    "scans_bucket": "MEDFLOW_SCANS_BUCKET",
    "portal_origin": "MEDFLOW_PORTAL_ORIGIN",
    "vapid_private_key": "MEDFLOW_VAPID_PRIVATE_KEY",
    "vapid_public_key": "MEDFLOW_VAPID_PUBLIC_KEY",
    "vapid_subject": "MEDFLOW_VAPID_SUBJECT",
    "push_retry_seconds": "MEDFLOW_PUSH_RETRY_SECONDS",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_api_key_param": "MEDFLOW_ANTHROPIC_KEY_PARAM",
    "anthropic_base_url": "ANTHROPIC_BASE_URL",
    "ai_model": "MEDFLOW_AI_MODEL",
    "ai_timeout_seconds": "MEDFLOW_AI_TIMEOUT_SECONDS",
}
# Read from the environment only when set (else the field's default).
_OPTIONAL_NUMBERS = (
    "access_token_minutes",
    "session_hours",
    "login_max_attempts",
    "login_delay_seconds",
    "login_max_delay_minutes",
    "login_window_minutes",
    "login_ip_attempts",
    "login_global_attempts",
    "lockout_failures",
    "lockout_minutes",
    "org_id",
    "portal_url",
    "invite_ip_attempts",
    "portal_origin",
    "vapid_public_key",
    "vapid_subject",
    "push_retry_seconds",
    "anthropic_api_key",
    "anthropic_api_key_param",
    "anthropic_base_url",
    "ai_model",
    "ai_timeout_seconds",
)
_VAPID_SOURCES = ("MEDFLOW_VAPID_PRIVATE_KEY", "MEDFLOW_VAPID_KEY_FILE", "MEDFLOW_VAPID_PRIVATE_KEY_PARAM")


def _vapid_from_env(env: Mapping[str, str], values: Mapping[str, object], ssm: Any) -> dict[str, object]:
    """The VAPID private key from the one source the environment names (value, PEM file, SSM parameter)."""
    given = [name for name in _VAPID_SOURCES if env.get(name)]
    if len(given) > 1:
        raise SettingsError(f"invalid cloud settings: set one of {', '.join(given)}, not several")
    if not given:
        return {}
    source, value = given[0], env[given[0]]
    if source == "MEDFLOW_VAPID_PRIVATE_KEY":
        return {"vapid_private_key": value}
    if source == "MEDFLOW_VAPID_KEY_FILE":
        from chalicelib import vapid

        try:
            return {"vapid_private_key": vapid.read_key_file(Path(value))}
        except (OSError, ValueError) as exc:
            raise SettingsError(f"invalid cloud settings: MEDFLOW_VAPID_KEY_FILE {value!r}: {exc}") from None
    region, endpoint = str(values["region"]), values["endpoint_url"]
    client = ssm or boto3.client("ssm", region, endpoint_url=endpoint)
    return {"vapid_private_key": read_secure_parameter(value, client, variable=source)}


def read_secure_parameter(name: str, ssm: Any, *, variable: str = "MEDFLOW_JWT_SECRET_PARAM") -> str:
    """The decrypted value of SSM SecureString `name`; `SettingsError` naming it (never its value) otherwise."""
    try:
        parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    except (ClientError, BotoCoreError) as exc:
        raise SettingsError(f"invalid cloud settings: {variable} {name!r} cannot be read ({exc})") from None
    if parameter.get("Type") != "SecureString":
        raise SettingsError(f"invalid cloud settings: {variable} {name!r} must be a SecureString")
    return str(parameter["Value"])


def _describe(exc: ValidationError) -> str:
    # Never echo the input: it may be the secret.
    parts = []
    for error in exc.errors(include_input=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        parts.append(f"{_ENV_NAMES.get(field, field) or 'settings'}: {error['msg']}")
    return "invalid cloud settings: " + "; ".join(parts)


_current: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def use_settings(settings: Settings | None) -> None:
    """Make `settings` the process's settings (the local router, CLIs, tests); None re-reads the environment."""
    global _current
    _current = settings


def reset_settings() -> None:
    """Forget the cached settings, so the next `get_settings()` reads the environment again."""
    use_settings(None)
