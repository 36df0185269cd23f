"""The agent's TOML configuration, validated at start: unknown keys and bad values fail fast, naming the key.

Credentials never live here: boto3 reads them from the environment or the AWS credential chain.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from edge_agent.errors import ConfigError

_ID = r"^[A-Za-z0-9_.-]+$"  # ids become S3 key segments (shared_models.s3keys)
_GIB = 1024**3


class _Strict(BaseModel):
    # Config models forbid unknown keys: a typo must stop the agent, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are read against the config file's folder, not the working directory."""
    base = (info.context or {}).get("base_dir")
    path = value.expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


class AgentSection(_Strict):
    clinic_id: str = Field(pattern=_ID, max_length=64)
    agent_id: str = Field(pattern=_ID, max_length=64)
    data_dir: Path  # spool database and blobs
    heartbeat_seconds: float = Field(default=60.0, gt=0)
    max_spool_bytes: int = Field(default=10 * _GIB, gt=0)  # above this, new items are refused (alarm)
    max_spool_items: int | None = Field(default=None, gt=0)  # likewise for the number of items waiting
    # Once full, new items are refused until the backlog is below this share of each cap.
    spool_resume_ratio: float = Field(default=0.9, gt=0, le=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # A quarantined item's raw bytes stay in the spool this long after upload, so `medflow-edge replay`
    # can parse them again after an adapter upgrade; 0 releases them at upload like any other item.
    keep_quarantined_days: float = Field(default=30.0, ge=0)
    health_port: int = Field(default=0, ge=0, le=65535)  # GET /healthz and /metrics; 0 = off
    health_host: str = Field(default="127.0.0.1", min_length=1)  # loopback only unless asked otherwise

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)


class CloudSection(_Strict):
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


class _SourceBase(_Strict):
    name: str = Field(pattern=_ID, max_length=64)
    device_id: str | None = Field(default=None, max_length=128)
    # Fleet health: how often this source is expected to hand something in; silent for longer, the cloud
    # raises an alert. Unset: the cloud learns it from the source's history (docs/edge_agent.md).
    expect_every_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 31)


def _check_pattern(pattern: str) -> str:
    if pattern.count("{patient_id}") != 1:
        raise ValueError(f"pattern {pattern!r} must contain {{patient_id}} exactly once")
    if pattern.startswith("/") or "\\" in pattern:
        raise ValueError(f"pattern {pattern!r} must be relative and use '/' between folders")
    return pattern


class FolderSourceConfig(_SourceBase):
    kind: Literal["folder"] = "folder"
    path: Path
    recursive: bool = True
    settle_seconds: float = Field(default=2.0, gt=0)
    rescan_seconds: float = Field(default=30.0, gt=0)
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=lambda: ["*.tmp", "~$*", ".*"])
    patient_id_patterns: list[str] = Field(default_factory=list)
    delete_after_upload: bool = False

    @field_validator("path")
    @classmethod
    def _path(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)

    @field_validator("patient_id_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return [_check_pattern(p) for p in value]


class MllpSourceConfig(_SourceBase):
    kind: Literal["mllp"] = "mllp"
    host: str = "127.0.0.1"
    port: int = Field(default=2575, ge=1, le=65535)
    max_message_bytes: int = Field(default=1_048_576, gt=0)
    # Worker processes that parse this listener's messages on other cores (edge_agent.parse_pool);
    # 0 parses in the agent's own process, enough for a few analyzers. 2 suits a busy lab on 2+ cores.
    parse_workers: int = Field(default=0, ge=0, le=16)


class SerialSourceConfig(_SourceBase):
    kind: Literal["serial"] = "serial"
    device: str = Field(min_length=1)  # e.g. /dev/ttyUSB0
    baudrate: int = Field(default=9600, gt=0)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    protocol: Literal["astm", "lines"] = "astm"


class AstmTcpSourceConfig(_SourceBase):
    kind: Literal["astm_tcp"] = "astm_tcp"
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    mode: Literal["server", "client"] = "server"


class SmbSourceConfig(_SourceBase):
    """A folder on an SMB2/3 share (edge_agent.sources.smb); the password never lives in this file."""

    kind: Literal["smb"] = "smb"
    server: str = Field(min_length=1)  # host name or IP address of the computer holding the share
    port: int = Field(default=445, ge=1, le=65535)
    share: str = Field(min_length=1, pattern=r"^[^\\/]+$")
    path: str = ""  # folder inside the share, "/"- or "\\"-separated; "" is the share's root
    username: str | None = Field(default=None, min_length=1)  # may come from credentials_file instead
    domain: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    credentials_file: Path | None = None  # username=/password=/domain= lines, mode 0600 or 0400
    encrypt: bool = False  # true: refuse a server that cannot encrypt (SMB 3)
    settle_seconds: float = Field(default=2.0, gt=0)
    rescan_seconds: float = Field(default=30.0, gt=0)  # the listing beside CHANGE_NOTIFY
    recursive: bool = True
    exclude: list[str] = Field(default_factory=lambda: ["*.tmp", "~$*", ".*"])
    patient_id_patterns: list[str] = Field(default_factory=list)
    reconnect_max_seconds: float = Field(default=60.0, gt=0)  # backoff ceiling after the server goes away
    timeout_seconds: float = Field(default=10.0, gt=0)  # connect and per-request timeout

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "password must not be written in the config file: set password_env to the name of an "
                "environment variable holding it, or credentials_file to a file readable only by the agent (0600)"
            )
        return data

    @field_validator("path")
    @classmethod
    def _share_path(cls, value: str) -> str:
        parts = [p for p in value.replace("\\", "/").split("/") if p]
        if any(p in {".", ".."} for p in parts):
            raise ValueError("path must stay inside the share (no . or ..)")
        return "/".join(parts)

    @field_validator("credentials_file")
    @classmethod
    def _cred_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @field_validator("patient_id_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return [_check_pattern(p) for p in value]

    @model_validator(mode="after")
    def _credentials(self) -> SmbSourceConfig:
        if (self.password_env is None) == (self.credentials_file is None):
            raise ValueError("set exactly one of password_env or credentials_file")
        if self.username is None and self.credentials_file is None:
            raise ValueError("username is required (or a username= line in credentials_file)")
        return self


_UID = r"^[0-9]+(\.[0-9]+)*$"


def _check_ae_title(title: str) -> str:
    """1-16 characters of the DICOM default repertoire, no backslash, not all spaces (PS3.5 §6.2, AE)."""
    if not 0 < len(title) <= 16 or not title.strip() or any(c == "\\" or not " " <= c <= "~" for c in title):
        raise ValueError(f"AE title {title!r} must be 1-16 printable ASCII characters without a backslash")
    return title


class DicomScpSourceConfig(_SourceBase):
    """A DICOM Storage SCP (C-STORE receive) for modalities that push instead of exporting files."""

    kind: Literal["dicom_scp"] = "dicom_scp"
    host: str = "127.0.0.1"  # "0.0.0.0" to take the modalities on the LAN
    port: int = Field(default=11112, ge=1, le=65535)
    ae_title: str = "MEDFLOW"
    # Only these modalities may associate (their calling AE titles); any other is rejected.
    allowed_calling_aes: list[str] = Field(min_length=1)
    # SOP class UIDs accepted besides the ophthalmic set and Secondary Capture (sources/dicom_scp.py).
    extra_sop_classes: list[Annotated[str, Field(pattern=_UID, max_length=64)]] = Field(default_factory=list)
    max_associations: int = Field(default=10, ge=1, le=100)
    network_timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, value: str) -> str:
        return _check_ae_title(value)

    @field_validator("allowed_calling_aes")
    @classmethod
    def _calling(cls, value: list[str]) -> list[str]:
        return [_check_ae_title(title) for title in value]


SourceConfig = Annotated[
    FolderSourceConfig
    | MllpSourceConfig
    | SerialSourceConfig
    | AstmTcpSourceConfig
    | SmbSourceConfig
    | DicomScpSourceConfig,
    Field(discriminator="kind"),
]
SOURCE_KINDS = ("folder", "mllp", "serial", "astm_tcp", "smb", "dicom_scp")


class AgentConfig(_Strict):
    agent: AgentSection
    cloud: CloudSection
    sources: list[SourceConfig] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        seen: dict[str, int] = {}
        for i, source in enumerate(sources):
            if source.name in seen:
                first = seen[source.name]
                raise ValueError(f"source name {source.name!r} is used twice (sources[{first}] and sources[{i}])")
            seen[source.name] = i
        return sources


def _key_path(loc: tuple[int | str, ...]) -> str:
    """`("sources", 0, "folder", "settle_seconds")` -> `sources[0].settle_seconds` (the union tag dropped)."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif i == 2 and loc[0] == "sources" and isinstance(loc[1], int) and item in SOURCE_KINDS:
            continue
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "(top level)"


def format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc, msg = tuple(err["loc"]), str(err["msg"]).removeprefix("Value error, ")
        if err["type"] in {"union_tag_not_found", "union_tag_invalid"}:
            loc, msg = (*loc, "kind"), f"must be one of {', '.join(SOURCE_KINDS)}"
        lines.append(f"{_key_path(loc)}: {msg}")
    return "; ".join(lines)


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
