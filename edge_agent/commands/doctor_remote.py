"""`medflow-edge doctor` with `remote_config = true`: which sources the agent runs (the last published version it
applied, else the TOML's), and whether it can read what the cloud publishes for it now and would run it."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from edge_agent.commands.doctor import Check
from edge_agent.config import AgentConfig
from edge_agent.identity import Identity
from edge_agent.remote_config.document import Rejected, effective, read
from edge_agent.remote_config.fetch import ConfigFetcher, NotPublished
from edge_agent.remote_config.last_good import LastGood
from edge_agent.spool.uploader import describe_error


def _ident(config: AgentConfig) -> Identity:
    return Identity(config.agent.clinic_id, config.agent.agent_id, config.cloud.prefix)


def running_config(config: AgentConfig) -> tuple[AgentConfig, int | None]:
    """What `run` would start with: the TOML laid under the last applied version (and that version), or the TOML."""
    last = LastGood(config.agent.data_dir).load(_ident(config))
    return (effective(config, last.config), last.version) if last is not None else (config, None)


def check_remote_config(config: AgentConfig, client: Any, applied: int | None) -> Check:
    fetcher = ConfigFetcher(client, config.cloud.bucket, _ident(config))
    runs = f"runs version {applied} (data_dir/remote_config.json)" if applied else "runs its TOML's sources"
    try:
        body = fetcher.fetch()
    except NotPublished as exc:
        return Check("remote config", "warn", f"nothing published at {fetcher.key} ({exc.code}: none yet, or this "
                     f"agent's credentials may not read it); the agent {runs}")  # fmt: skip
    except (ClientError, BotoCoreError, OSError) as exc:
        return Check("remote config", "fail", f"cannot read {fetcher.key}: {describe_error(exc)[0]}")
    try:
        published = read(body or b"", _ident(config))
    except Rejected as exc:
        return Check("remote config", "fail", f"version {exc.version} at {fetcher.key} would be refused: {exc.reason}")
    return Check("remote config", "ok", f"version {published.version} published ({len(published.config.sources)} "
                 f"source(s)), valid for this agent; the agent {runs}")  # fmt: skip
