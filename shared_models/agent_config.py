"""The agent's configuration that the cloud may publish: the sources and the settings that change live.

One schema for both doors (docs/edge_agent.md "Remote configuration"): the edge agent's TOML (`edge_agent.config`
builds its `[agent]` and `[cloud]` sections around these models) and the JSON an admin PUTs to
`/agents/{agent_id}/config`, validated by the cloud before it is published and again by the agent before it
is applied. Config models forbid unknown keys (a typo must fail, naming the key); the published document
around them (`PublishedAgentConfig`) is a wire model and tolerates fields added later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

ID_PATTERN = r"^[A-Za-z0-9_.-]+$"  # ids become S3 key segments (shared_models.s3keys)

AGENT_CONFIG_SCHEMA = "medflow.agent_config/1"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class StrictModel(BaseModel):
    # Config models forbid unknown keys: a typo must stop the agent, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are read against the config file's folder, not the working directory."""
    base = (info.context or {}).get("base_dir")
    try:
        path = value.expanduser()
    except RuntimeError:  # no home directory known (a Lambda checking a published config): left as written
        path = value
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


class _SourceBase(StrictModel):
    name: str = Field(pattern=ID_PATTERN, max_length=64)
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
        return resolve_path(value, info)

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
        return None if value is None else resolve_path(value, info)

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


def unique_names(sources: Sequence[Any]) -> None:
    """Source names identify a source in logs, metrics, heartbeats and live changes: each once."""
    seen: dict[str, int] = {}
    for i, source in enumerate(sources):
        if source.name in seen:
            first = seen[source.name]
            raise ValueError(f"source name {source.name!r} is used twice (sources[{first}] and sources[{i}])")
        seen[source.name] = i


def key_path(loc: Sequence[int | str]) -> str:
    """`("sources", 0, "folder", "settle_seconds")` -> `sources[0].settle_seconds` (the union tag dropped)."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif i >= 2 and loc[i - 2] == "sources" and isinstance(loc[i - 1], int) and item in SOURCE_KINDS:
            continue
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "(top level)"


def error_lines(errors: Sequence[Any]) -> list[tuple[str, str]]:
    """pydantic's errors as (key path, message): the union tag dropped, an unknown `kind` said in words."""
    lines = []
    for err in errors:
        loc, msg = tuple(err["loc"]), str(err["msg"]).removeprefix("Value error, ")
        if err["type"] in {"union_tag_not_found", "union_tag_invalid"}:
            loc, msg = (*loc, "kind"), f"must be one of {', '.join(SOURCE_KINDS)}"
        lines.append((key_path(loc), msg))
    return lines


def _absolute(path: Path | None) -> bool:
    # The cloud checks a config for agents on Linux and Windows alike: either flavour's absolute path counts.
    return path is None or PurePosixPath(str(path)).is_absolute() or PureWindowsPath(str(path)).is_absolute()


def _published_paths(source: SourceConfig) -> SourceConfig:
    """A relative path would mean another folder on each PC (the TOML's are read against its own folder)."""
    for name in ("path", "credentials_file"):
        value = getattr(source, name, None) if source.kind in ("folder", "smb") else None
        if isinstance(value, Path) and not _absolute(value):
            raise ValueError(f"{name} must be an absolute path in a published configuration")
    return source


class RemoteConfig(StrictModel):
    """What the cloud may set on an agent: its sources (all of them: the list replaces the TOML's) and the
    settings that take effect without a restart. Unset settings keep the TOML's value. The agent's identity,
    data_dir, spool limits, health port and `[cloud]` stay local: a published config cannot lock an agent out.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "heartbeat_seconds": 60,
                    "sources": [
                        {"kind": "folder", "name": "inbox", "path": "/srv/medflow/inbox",
                         "patient_id_patterns": ["{patient_id}/*"]},
                        {"kind": "mllp", "name": "lab", "host": "0.0.0.0", "port": 2575},
                    ],
                }
            ]
        },
    )  # fmt: skip

    sources: list[Annotated[SourceConfig, AfterValidator(_published_paths)]]
    heartbeat_seconds: float | None = Field(default=None, gt=0)
    log_level: LogLevel | None = None

    @field_validator("sources")
    @classmethod
    def _sources(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        unique_names(sources)
        return sources


class PublishedAgentConfig(BaseModel):
    """`config/{clinic_id}/{agent_id}.json` in the ingest bucket: what the agent polls. Written by the cloud
    on every PUT /agents/{agent_id}/config; `version` counts the PUTs of that agent, from 1."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_: str = Field(default=AGENT_CONFIG_SCHEMA, alias="schema")
    clinic_id: str
    agent_id: str
    version: int = Field(ge=1)
    published_at: datetime
    config: dict[str, Any]  # a RemoteConfig, validated by the agent itself before anything is applied
