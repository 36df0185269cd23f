"""A published configuration read and checked (unit, no IO): the TOML's own models decide, the document must be
meant for this agent, and the effective configuration is the TOML with the published sources and settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import parse_config
from edge_agent.identity import Identity
from edge_agent.remote_config.document import Rejected, effective, read

IDENT = Identity("clinic1", "agent1")
INBOX = {"kind": "folder", "name": "inbox", "path": "/srv/inbox"}


def document(config: dict[str, Any], version: int = 3, **fields: Any) -> bytes:
    body = {"schema": "medflow.agent_config/1", "clinic_id": "clinic1", "agent_id": "agent1", "version": version,
            "published_at": "2026-12-05T07:00:00Z", "config": config, **fields}  # fmt: skip
    return json.dumps(body).encode()


def test_a_good_document_gives_its_version_and_the_checked_sources() -> None:
    published = read(document({"sources": [INBOX], "heartbeat_seconds": 15}), IDENT)
    assert published.version == 3 and published.published_at == datetime(2026, 12, 5, 7, tzinfo=UTC)
    [inbox] = published.config.sources
    assert inbox.kind == "folder" and inbox.path == Path("/srv/inbox") and inbox.settle_seconds == 2.0


def test_fields_a_newer_cloud_adds_around_the_config_are_tolerated() -> None:
    assert read(document({"sources": []}, updated_by="user:u1"), IDENT).version == 3


@pytest.mark.parametrize(
    ("body", "version", "said"),
    [
        (document({"sources": [{**INBOX, "settle_seconds": 0}]}), 3, "sources[0].settle_seconds: Input should be"),
        (document({"sources": [{**INBOX, "kind": "ftp"}]}), 3, "sources[0].kind: must be one of folder"),
        (document({"sources": [INBOX], "colour": "red"}), 3, "colour: Extra inputs are not permitted"),
        (document({"sources": [INBOX]}, agent_id="agent2"), 3, "published for clinic1/agent2, not this agent"),
        (document({"sources": [INBOX]}, clinic_id="clinic2"), 3, "not this agent"),
        (document({"sources": [INBOX]}, schema="medflow.agent_config/2"), 3, "is not 'medflow.agent_config/1'"),
        (b"{not json", None, "not a published configuration"),
        (json.dumps({"config": {}}).encode(), None, "not a published configuration"),
    ],
)
def test_a_bad_document_is_rejected_naming_what_is_wrong(body: bytes, version: int | None, said: str) -> None:
    with pytest.raises(Rejected) as caught:
        read(body, IDENT)
    assert caught.value.version == version and said in caught.value.reason, caught.value.reason


def test_the_effective_configuration_is_the_toml_with_the_published_sources(tmp_path: Path) -> None:
    local = parse_config(
        {"agent": {"clinic_id": "clinic1", "agent_id": "agent1", "data_dir": "data", "heartbeat_seconds": 60,
                   "remote_config": True},
         "cloud": {"bucket": "medflow-ingest-test"},
         "sources": [{"kind": "mllp", "name": "lab", "port": 2575}]},
        base_dir=tmp_path,
    )  # fmt: skip
    remote = read(document({"sources": [INBOX], "heartbeat_seconds": 15}), IDENT).config
    config = effective(local, remote)
    assert [s.name for s in config.sources] == ["inbox"]  # the published list replaces the TOML's
    assert config.agent.heartbeat_seconds == 15 and config.agent.log_level == "INFO"  # unset: the TOML's
    assert config.agent.data_dir == tmp_path / "data" and config.cloud == local.cloud  # local only
    assert effective(local, read(document({"sources": []}), IDENT).config).agent.heartbeat_seconds == 60
