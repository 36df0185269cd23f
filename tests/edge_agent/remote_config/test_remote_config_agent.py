"""The whole agent (`build_agent`, real folder sources, spool, uploader, heartbeat) polling its published
configuration on the moto server's S3: a folder source added live takes a file dropped into it; a source removed
stops, and what it had taken is uploaded (nothing lost); a bad configuration is refused and reported in the
heartbeat while the agent keeps what it had; a restart without the network starts with the last good one;
`medflow-edge status` (its own process) shows the applied version and the last refusal, as the heartbeat said them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET

from edge_agent.__main__ import Agent, build_agent
from edge_agent.config import load_config
from shared_models.s3keys import agent_config_key, heartbeat_key

pytestmark = pytest.mark.integration
BUSY = 200


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def write_toml(tmp_path: Path, endpoint: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
clinic_id = "clinic1"
agent_id = "agent1"
data_dir = "data"
heartbeat_seconds = 30
remote_config = true
remote_config_seconds = 0.1

[cloud]
bucket = "{BUCKET}"
endpoint_url = "{endpoint}"
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2

[[sources]]
kind = "folder"
name = "a"
path = "a"
settle_seconds = 0.2
rescan_seconds = 0.3
""",
        encoding="utf-8",
    )
    return path


def folder(name: str, path: Path) -> dict[str, Any]:
    return {"kind": "folder", "name": name, "path": str(path), "settle_seconds": 0.2, "rescan_seconds": 0.3}


def publish(s3: Any, version: int, config: dict[str, Any]) -> None:
    body = {"schema": "medflow.agent_config/1", "clinic_id": "clinic1", "agent_id": "agent1", "version": version,
            "published_at": "2026-12-05T07:00:00Z", "config": config}  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=agent_config_key("clinic1", "agent1"), Body=json.dumps(body).encode())


def drop(folder: Path, name: str, text: str) -> str:
    """Writes a file (not a device format: quarantined, still uploaded raw) and returns its sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = f"not a device export: {text}\n".encode()
    (folder / name).write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()


def raw_shas(s3: Any) -> set[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/clinic1/").get("Contents", [])
    return {Path(item["Key"]).stem for item in listed}


def heartbeat(s3: Any) -> dict[str, Any]:
    return dict(json.loads(s3.get_object(Bucket=BUCKET, Key=heartbeat_key("clinic1", "agent1"))["Body"].read()))


def applied(agent: Agent, version: int) -> Callable[[], bool]:
    assert agent.remote is not None
    return lambda: agent.remote is not None and agent.remote.status.report()[0] == version


@pytest.fixture
def agent_toml(tmp_path: Path, cloud: Any, s3: Any) -> Path:
    return write_toml(tmp_path, cloud.endpoint_url)


@pytest.fixture
def running(agent_toml: Path) -> Iterator[Agent]:
    agent = build_agent(load_config(agent_toml))
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def test_sources_added_and_removed_live_lose_nothing(running: Agent, s3: Any, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    first = drop(a, "first.bin", "first")
    wait_for(lambda: first in raw_shas(s3), "the TOML's source to take a file")

    publish(s3, 1, {"sources": [folder("a", a), folder("b", b)]})
    wait_for(applied(running, 1), "version 1 applied")
    in_b = drop(b, "new.bin", "dropped into the added folder")
    wait_for(lambda: in_b in raw_shas(s3), "the added source to take a file")

    # Files over 128 KiB: each is a blob file plus a transaction, two fsyncs; a takes them one after another.
    in_flight = [drop(a, f"busy-{i}.bin", f"in flight {i} " + "x" * 150_000) for i in range(BUSY)]
    items = running.spool.ledger.items
    wait_for(lambda: any(items.find(sha) for sha in in_flight), "a to start taking them")
    publish(s3, 2, {"sources": [folder("b", b)]})  # a is removed while it works through them
    wait_for(applied(running, 2), "version 2 applied")
    assert [config.name for config in running.sources.configs] == ["b"]

    taken = [sha for sha in in_flight if items.find(sha) is not None]
    assert taken  # a was stopped mid-way (it finished the file it was committing)
    wait_for(lambda: items.pending() == (0, 0), "the spool to drain")
    assert set(taken) <= raw_shas(s3)  # every item a took before it stopped is in S3: none lost
    assert all((a / f"busy-{i}.bin").exists() for i in range(BUSY))  # what it did not take is still there

    late = drop(a, "late.bin", "after a was removed")
    after_b = drop(b, "after.bin", "b still runs")
    wait_for(lambda: after_b in raw_shas(s3), "b to keep taking files")
    time.sleep(0.8)  # a's settle and rescan times, several times over
    assert items.find(late) is None  # a stopped
    print(f"\nremote config: a took {len(taken)} of {BUSY} files before it was removed")

    running.heartbeat.send_once()
    beat = heartbeat(s3)
    assert beat["config_version"] == 2 and "config_error" not in beat and beat["sources"] == ["b"]
    assert {device["source"] for device in beat["devices"]} == {"b"}  # a retired source is not "silent"


def test_a_bad_configuration_is_refused_reported_and_the_old_one_kept(running: Agent, s3: Any, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    publish(s3, 1, {"sources": [folder("a", a), folder("b", b)]})
    wait_for(applied(running, 1), "version 1 applied")
    publish(s3, 2, {"sources": [{**folder("b", b), "settle_seconds": -1}]})
    assert running.remote is not None
    wait_for(lambda: running.remote is not None and running.remote.status.report()[1], "version 2 refused")

    wait_for(lambda: heartbeat(s3).get("config_error"), "the refusal in the heartbeat (sent at once)")
    beat = heartbeat(s3)
    assert beat["config_version"] == 1 and beat["config_error"]["version"] == 2
    assert "sources[0].settle_seconds" in beat["config_error"]["error"]
    assert [config.name for config in running.sources.configs] == ["a", "b"]  # still running on version 1
    in_a = drop(a, "still.bin", "a still runs")
    wait_for(lambda: in_a in raw_shas(s3), "a to keep taking files")


def test_a_restart_without_the_network_starts_with_the_last_good_configuration(
    agent_toml: Path, s3: Any, tmp_path: Path
) -> None:
    b = tmp_path / "b"
    agent = build_agent(load_config(agent_toml))
    agent.start()
    try:
        publish(s3, 1, {"sources": [folder("b", b)], "heartbeat_seconds": 7})
        wait_for(applied(agent, 1), "version 1 applied")
    finally:
        agent.stop()
    assert (tmp_path / "data" / "remote_config.json").is_file()

    offline = agent_toml.read_text().replace(s3.meta.endpoint_url, "http://127.0.0.1:9")
    agent_toml.write_text(offline)
    agent = build_agent(load_config(agent_toml))
    agent.start()
    try:
        assert [config.name for config in agent.sources.configs] == ["b"] and agent.heartbeat.interval == 7
        assert agent.remote is not None and agent.remote.status.report() == (1, None)
        in_b = drop(b, "offline.bin", "taken while the cloud is away")
        wait_for(lambda: agent.spool.ledger.items.find(in_b), "the last good source to take a file offline")
        assert agent.heartbeat.build().config_version == 1
    finally:
        agent.stop()


def status(agent_toml: Path, *flags: str) -> str:
    """`medflow-edge status` in its own process, beside the running agent, as a clinic's IT person runs it."""
    command = [sys.executable, "-m", "edge_agent", "status", "--config", str(agent_toml), *flags]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_status_shows_the_applied_version_and_the_last_refusal(
    running: Agent, agent_toml: Path, s3: Any, tmp_path: Path
) -> None:
    assert json.loads(status(agent_toml, "--json"))["config_version"] is None  # the TOML, until something applies
    assert "remote config   none applied (the TOML)" in status(agent_toml)
    a = tmp_path / "a"
    publish(s3, 1, {"sources": [folder("a", a)], "heartbeat_seconds": 20})
    wait_for(lambda: json.loads(status(agent_toml, "--json"))["config_version"] == 1, "status to show version 1")
    assert "remote config   version 1\n" in status(agent_toml) + "\n"

    publish(s3, 2, {"sources": [{**folder("a", a), "settle_seconds": -1}]})
    report = wait_for(lambda: json.loads(status(agent_toml, "--json"))["config_error"], "status to show the refusal")
    assert report["version"] == 2 and "sources[0].settle_seconds" in report["error"]
    beat = wait_for(lambda: heartbeat(s3).get("config_error") and heartbeat(s3), "the heartbeat's refusal")
    assert beat["config_version"] == 1 and beat["config_error"] == report  # status says what the heartbeat said
    text = status(agent_toml)
    assert "remote config   version 1; version 2 refused at " in text and "sources[0].settle_seconds" in text

    publish(s3, 3, {"sources": [folder("a", a)]})
    wait_for(lambda: json.loads(status(agent_toml, "--json"))["config_version"] == 3, "status to show version 3")
    assert json.loads(status(agent_toml, "--json"))["config_error"] is None  # a good version clears the refusal


def test_status_without_remote_configuration_says_nothing_of_it(agent_toml: Path) -> None:
    agent_toml.write_text(agent_toml.read_text().replace("remote_config = true", "remote_config = false"))
    agent = build_agent(load_config(agent_toml))
    agent.start()
    try:
        report = json.loads(status(agent_toml, "--json"))
        assert report["remote_config"] is False and report["config_version"] is None
        assert "remote config" not in status(agent_toml)
    finally:
        agent.stop()
