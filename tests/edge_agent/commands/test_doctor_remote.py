"""`medflow-edge doctor` with `remote_config = true`, against the moto server: it says whether a configuration is
published for this agent and would be run, and checks the sources the agent would start (a published version's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET

from edge_agent.__main__ import main
from edge_agent.identity import Identity
from edge_agent.remote_config.document import read
from edge_agent.remote_config.last_good import LastGood
from shared_models.s3keys import agent_config_key

pytestmark = pytest.mark.integration


def write_config(tmp_path: Path, endpoint: str) -> Path:
    (tmp_path / "inbox").mkdir(exist_ok=True)
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
clinic_id = "clinic1"
agent_id = "agent1"
data_dir = "data"
remote_config = true

[cloud]
bucket = "{BUCKET}"
endpoint_url = "{endpoint}"
connect_timeout_seconds = 2

[[sources]]
kind = "folder"
name = "inbox"
path = "inbox"
""",
        encoding="utf-8",
    )
    return path


def document(version: int, config: dict[str, Any]) -> bytes:
    body = {"schema": "medflow.agent_config/1", "clinic_id": "clinic1", "agent_id": "agent1", "version": version,
            "published_at": "2026-12-05T07:00:00Z", "config": config}  # fmt: skip
    return json.dumps(body).encode()


def doctor(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, str]]]:
    code = main(["doctor", "--config", str(config), "--json"])
    return code, {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}


def test_nothing_published_is_a_warning(tmp_path: Path, aws_endpoint: str, s3: Any, capsys: Any) -> None:
    code, checks = doctor(write_config(tmp_path, aws_endpoint), capsys)
    assert code == 0 and checks["remote config"]["status"] == "warn"
    assert "nothing published at config/clinic1/agent1.json" in checks["remote config"]["message"]
    assert "runs its TOML's sources" in checks["remote config"]["message"]


def test_a_published_version_is_checked_as_the_agent_would(
    tmp_path: Path, aws_endpoint: str, s3: Any, capsys: Any
) -> None:
    config = write_config(tmp_path, aws_endpoint)
    key = agent_config_key("clinic1", "agent1")
    s3.put_object(Bucket=BUCKET, Key=key, Body=document(2, {"sources": [{"kind": "mllp", "name": "lab"}]}))
    code, checks = doctor(config, capsys)
    assert code == 0 and checks["remote config"]["status"] == "ok", checks["remote config"]
    assert "version 2 published (1 source(s)), valid for this agent" in checks["remote config"]["message"]

    s3.put_object(Bucket=BUCKET, Key=key, Body=document(3, {"sources": [{"kind": "mllp", "name": "lab", "port": 0}]}))
    code, checks = doctor(config, capsys)
    assert code == 1 and checks["remote config"]["status"] == "fail"
    assert (
        "version 3 at config/clinic1/agent1.json would be refused: sources[0].port"
        in checks["remote config"]["message"]
    )


def test_the_sources_checked_are_those_of_the_version_the_agent_runs(
    tmp_path: Path, aws_endpoint: str, s3: Any, capsys: Any
) -> None:
    config = write_config(tmp_path, aws_endpoint)
    missing = tmp_path / "oct-exports"  # published, but not on this PC
    body = document(4, {"sources": [{"kind": "folder", "name": "oct", "path": str(missing)}]})
    LastGood(tmp_path / "data").save(read(body, Identity("clinic1", "agent1")))
    s3.put_object(Bucket=BUCKET, Key=agent_config_key("clinic1", "agent1"), Body=body)
    code, checks = doctor(config, capsys)
    assert code == 1 and "source inbox" not in checks
    assert checks["source oct"]["status"] == "fail"
    assert "runs published version 4 (1 source(s))" in checks["config"]["message"]
    assert "the agent runs version 4" in checks["remote config"]["message"]
