"""Cloud settings from environment variables, validated once (pydantic); every entry point reads them here.

| variable | default | meaning |
| --- | --- | --- |
| MEDFLOW_STAGE | local | stage; names every resource `medflow-{stage}-...` |
| AWS_ENDPOINT_URL | (unset) | local AWS (moto server / LocalStack); unset means real AWS |
| AWS_DEFAULT_REGION (or AWS_REGION) | us-east-1 | region |
| MEDFLOW_JWT_SECRET | a fixed local-only value on stage `local` | HS256 signing key; required (≥ 32 chars) elsewhere |
| MEDFLOW_ACCESS_TOKEN_MINUTES | 15 | access token lifetime |
| MEDFLOW_INGEST_BUCKET | medflow-{stage}-ingest | bucket name override (S3 names are global) |
| MEDFLOW_SESSION_HOURS | 12 | a login's lifetime: refresh tokens work until then (one clinic shift) |
| MEDFLOW_LOGIN_MAX_ATTEMPTS | 10 | login attempts per email and window; more get 429 until the window ends |
| MEDFLOW_LOGIN_WINDOW_MINUTES | 15 | that window |
| MEDFLOW_ORG | medflow | the organisation of the first admin (`create-admin`) and of clinics it creates |
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from chalicelib.resources import ResourceNames

LOCAL_STAGE = "local"
# Only ever accepted on stage `local` (see the check below); printed by the local tooling.
LOCAL_JWT_SECRET = "local-dev-only-jwt-secret-change-me"  # noqa: S105 - documented local default
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """The environment does not describe a usable configuration; the message names the variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: str = Field(default=LOCAL_STAGE, pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    region: str = "us-east-1"
    endpoint_url: str | None = None
    jwt_secret: SecretStr = SecretStr(LOCAL_JWT_SECRET)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    ingest_bucket: str | None = None
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    login_max_attempts: int = Field(default=10, ge=1, le=1000)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    org_id: str = Field(default="medflow", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @model_validator(mode="after")
    def _secret_fits_stage(self) -> Settings:
        secret = self.jwt_secret.get_secret_value()
        if self.stage != LOCAL_STAGE and (secret == LOCAL_JWT_SECRET or len(secret) < MIN_SECRET_LENGTH):
            raise ValueError(
                f"MEDFLOW_JWT_SECRET must be set to a random value of at least {MIN_SECRET_LENGTH} characters "
                f"outside stage {LOCAL_STAGE!r}"
            )
        return self

    @property
    def names(self) -> ResourceNames:
        return ResourceNames.for_stage(self.stage, bucket=self.ingest_bucket)

    @property
    def issuer(self) -> str:
        return f"medflow/{self.stage}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "stage": env.get("MEDFLOW_STAGE") or LOCAL_STAGE,
            "region": env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            "endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "ingest_bucket": env.get("MEDFLOW_INGEST_BUCKET") or None,
        }
        if env.get("MEDFLOW_JWT_SECRET"):
            values["jwt_secret"] = env["MEDFLOW_JWT_SECRET"]
        for field_name, variable in _ENV_NAMES.items():
            if field_name in _OPTIONAL_NUMBERS and env.get(variable):
                values[field_name] = env[variable]
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
    "login_window_minutes": "MEDFLOW_LOGIN_WINDOW_MINUTES",
    "org_id": "MEDFLOW_ORG",
}
# Read from the environment only when set (else the field's default).
_OPTIONAL_NUMBERS = ("access_token_minutes", "session_hours", "login_max_attempts", "login_window_minutes", "org_id")


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
