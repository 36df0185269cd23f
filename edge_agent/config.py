"""The agent's TOML configuration, validated at start: unknown keys and bad values fail fast, naming the key.

Credentials never live here: boto3 reads them from the environment or the AWS credential chain.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from edge_agent.errors import ConfigError

# The sources (and the settings a published configuration may change) are shared with the cloud, which checks
# a configuration with these very models before it publishes it: shared_models/agent_config.py.
from shared_models.agent_config import (
    ID_PATTERN,
    SOURCE_KINDS,
    AstmTcpSourceConfig,
    DicomScpSourceConfig,
    FolderSourceConfig,
    LogLevel,
    MllpSourceConfig,
    RemoteConfig,
    SerialSourceConfig,
    SmbSourceConfig,
    SourceConfig,
    StrictModel,
    error_lines,
    resolve_path,
    unique_names,
)

__all__ = [
    "SOURCE_KINDS",
    "AgentConfig",
    "AgentSection",
    "AstmTcpSourceConfig",
    "CloudSection",
    "DicomScpSourceConfig",
    "FolderSourceConfig",
    "MllpSourceConfig",
    "RemoteConfig",
    "SerialSourceConfig",
    "SmbSourceConfig",
    "SourceConfig",
    "format_errors",
    "load_config",
    "parse_config",
]

_GIB = 1024**3


class AgentSection(StrictModel):
    clinic_id: str = Field(pattern=ID_PATTERN, max_length=64)
    agent_id: str = Field(pattern=ID_PATTERN, max_length=64)
    data_dir: Path  # spool database and blobs
    heartbeat_seconds: float = Field(default=60.0, gt=0)
    max_spool_bytes: int = Field(default=10 * _GIB, gt=0)  # above this, new items are refused (alarm)
    max_spool_items: int | None = Field(default=None, gt=0)  # likewise for the number of items waiting
    # Once full, new items are refused until the backlog is below this share of each cap.
    spool_resume_ratio: float = Field(default=0.9, gt=0, le=1)
    log_level: LogLevel = "INFO"
    # A quarantined item's raw bytes stay in the spool this long after upload, so `medflow-edge replay`
    # can parse them again after an adapter upgrade; 0 releases them at upload like any other item.
    keep_quarantined_days: float = Field(default=30.0, ge=0)
    health_port: int = Field(default=0, ge=0, le=65535)  # GET /healthz and /metrics; 0 = off
    health_host: str = Field(default="127.0.0.1", min_length=1)  # loopback only unless asked otherwise
    # Poll the configuration the cloud publishes for this agent (docs/edge_agent.md "Remote configuration"):
    # once one is applied its sources replace this file's, and the last good one is kept in data_dir.
    remote_config: bool = False
    remote_config_seconds: float = Field(default=60.0, gt=0)

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)


class CloudSection(StrictModel):
    bucket: str = Field(min_length=3, max_length=63)
    region: str = "us-east-1"
    endpoint_url: str | None = None  # moto / LocalStack; None means AWS itself
    prefix: str = Field(default="", pattern=r"^([A-Za-z0-9_.-]+/)*$")  # e.g. "staging/"; keys go below it
    sse: Literal["AES256", "aws:kms"] = "AES256"
    kms_key_id: str | None = None
    max_attempts_before_alarm: int = Field(default=10, ge=1)  # an item failing this often logs an alarm
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _kms(self) -> CloudSection:
        if self.sse == "aws:kms" and not self.kms_key_id:
            raise ValueError('kms_key_id is required when sse = "aws:kms"')
        if self.sse != "aws:kms" and self.kms_key_id:
            raise ValueError('kms_key_id is only used with sse = "aws:kms"')
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_max_seconds must be at least backoff_base_seconds")
        return self


class AgentConfig(StrictModel):
    agent: AgentSection
    cloud: CloudSection
    sources: list[SourceConfig] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        unique_names(sources)
        return sources


def format_errors(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    return "; ".join(f"{path}: {msg}" for path, msg in error_lines(errors))


def parse_config(data: dict[str, Any], base_dir: Path | None = None) -> AgentConfig:
    """Validates an already-decoded TOML document."""
    try:
        return AgentConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc)) from exc


def load_config(path: Path | str) -> AgentConfig:
    """Reads and validates the TOML file; raises ConfigError with the bad key's path."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    try:
        return parse_config(data, base_dir=path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
