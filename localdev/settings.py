"""Settings of the local stack (`make run`), from the environment with printed defaults."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

REPO = Path(__file__).resolve().parent.parent

# Local-only defaults. They are printed at start; never use them outside this machine.
DEFAULT_ADMIN_EMAIL = "admin@demo.clinic"
DEFAULT_ADMIN_PASSWORD = "medflow-local-admin"  # noqa: S105 - documented local default


class LocalSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    var_dir: Path = Field(description="all local state: AWS recording, spool, inbox, logs")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    aws_port: int = 5100
    mllp_port: int = 2575
    health_port: int = 9101
    dicom_port: int = 11112  # the demo agent's DICOM Storage SCP (C-STORE receive)
    stage: str = "local"
    region: str = "us-east-1"
    clinic_id: str = "demo"
    agent_id: str = "demo-agent"
    admin_email: str = DEFAULT_ADMIN_EMAIL
    admin_password: str = DEFAULT_ADMIN_PASSWORD
    jwt_secret: str = "local-dev-only-jwt-secret-change-me"  # noqa: S105 - local default
    settle_seconds: float = 1.0
    persist: bool = True  # record AWS calls under var/ and replay them at the next start
    # AI tag suggestions (Claude vision): passed to the API when set; without a key suggest answers 503.
    ai_model: str | None = None
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None

    @property
    def inbox(self) -> Path:
        return self.var_dir / "inbox"

    @property
    def vapid_key_file(self) -> Path:
        """Web push's VAPID private key (PEM), made at the first `make run` and kept: subscriptions depend on it."""
        return self.var_dir / "vapid" / "private_key.pem"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @classmethod
    def from_env(cls) -> LocalSettings:
        env = os.environ
        var = Path(env.get("MEDFLOW_VAR", str(REPO / "var"))).resolve()
        return cls(
            var_dir=var,
            api_port=int(env.get("MEDFLOW_API_PORT", "8000")),
            aws_port=int(env.get("MEDFLOW_AWS_PORT", "5100")),
            mllp_port=int(env.get("MEDFLOW_MLLP_PORT", "2575")),
            health_port=int(env.get("MEDFLOW_AGENT_HEALTH_PORT", "9101")),
            stage=env.get("MEDFLOW_STAGE", "local"),
            region=env.get("AWS_DEFAULT_REGION", "us-east-1"),
            clinic_id=env.get("MEDFLOW_CLINIC", "demo"),
            agent_id=env.get("MEDFLOW_AGENT_ID", "demo-agent"),
            admin_email=env.get("MEDFLOW_ADMIN_EMAIL", DEFAULT_ADMIN_EMAIL),
            admin_password=env.get("MEDFLOW_ADMIN_PASSWORD", DEFAULT_ADMIN_PASSWORD),
            jwt_secret=env.get("MEDFLOW_JWT_SECRET", "local-dev-only-jwt-secret-change-me"),
            settle_seconds=float(env.get("MEDFLOW_SETTLE_SECONDS", "1.0")),
            persist=env.get("MEDFLOW_PERSIST", "1") not in {"0", "false", "no"},
            dicom_port=int(env.get("MEDFLOW_DICOM_PORT", "11112")),
            ai_model=env.get("MEDFLOW_AI_MODEL") or None,
            anthropic_api_key=env.get("ANTHROPIC_API_KEY") or None,
            anthropic_base_url=env.get("ANTHROPIC_BASE_URL") or None,
        )

    def cloud_env(self) -> dict[str, str]:
        """Environment for the API, the event router and in-process bootstrap calls (web push's key once it exists)."""
        push = {"MEDFLOW_VAPID_KEY_FILE": str(self.vapid_key_file)} if self.vapid_key_file.exists() else {}
        return {
            **push,
            "MEDFLOW_VAPID_SUBJECT": f"mailto:{self.admin_email}",
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "MEDFLOW_STAGE": self.stage,
            "MEDFLOW_JWT_SECRET": self.jwt_secret,
            **self.ai_env(),
        }

    def ai_env(self) -> dict[str, str]:
        """The AI suggestion settings given to this stack (only those set: the API's defaults apply otherwise)."""
        given = {
            "MEDFLOW_AI_MODEL": self.ai_model,
            "ANTHROPIC_API_KEY": self.anthropic_api_key,
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
        }
        return {name: value for name, value in given.items() if value}

    @property
    def ai_summary(self) -> str:
        """One banner line: whether suggestions work here, and with what (never the key)."""
        if not self.anthropic_api_key:
            return "off: no ANTHROPIC_API_KEY (POST /tagging/sessions/{id}/suggest answers 503)"
        model = self.ai_model or "the API's default model"
        return f"on: {model} at {self.anthropic_base_url or 'https://api.anthropic.com'}"
