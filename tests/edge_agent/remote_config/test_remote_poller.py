"""The remote-configuration poller against S3 on the moto server: a good newer version is applied and saved, a
poll with nothing new costs a 304, a bad version is refused and reported while the agent keeps what it had, an
older one is ignored, and a version that cannot be applied (a source does not start) is refused too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET

from edge_agent.config import AgentConfig, CloudSection, parse_config
from edge_agent.errors import EdgeAgentError
from edge_agent.identity import Identity
from edge_agent.remote_config.fetch import ConfigFetcher
from edge_agent.remote_config.last_good import LastGood
from edge_agent.remote_config.poller import ConfigStatus, RemoteConfigPoller
from edge_agent.spool.uploader import make_s3_client
from shared_models.s3keys import agent_config_key

IDENT = Identity("clinic1", "agent1")
KEY = agent_config_key("clinic1", "agent1")


def publish(s3: Any, version: int, config: dict[str, Any]) -> None:
    body = {"schema": "medflow.agent_config/1", "clinic_id": "clinic1", "agent_id": "agent1", "version": version,
            "published_at": "2026-12-05T07:00:00Z", "config": config}  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(body).encode())


def folder(name: str, path: Path, **settings: Any) -> dict[str, Any]:
    return {"kind": "folder", "name": name, "path": str(path), **settings}


class Recorder:
    """Stands in for Agent.apply: records each configuration, or refuses like a source that cannot start."""

    def __init__(self) -> None:
        self.applied: list[AgentConfig] = []
        self.fail: str | None = None

    def __call__(self, config: AgentConfig) -> None:
        if self.fail:
            raise EdgeAgentError(self.fail)
        self.applied.append(config)


@pytest.fixture
def local(tmp_path: Path) -> AgentConfig:
    return parse_config(
        {"agent": {"clinic_id": "clinic1", "agent_id": "agent1", "data_dir": str(tmp_path / "data"),
                   "remote_config": True},
         "cloud": {"bucket": BUCKET}},
    )  # fmt: skip


def poller(cloud: CloudSection, local: AgentConfig, apply: Recorder, status: ConfigStatus) -> RemoteConfigPoller:
    fetcher = ConfigFetcher(make_s3_client(cloud), BUCKET, IDENT)
    return RemoteConfigPoller(fetcher, LastGood(local.agent.data_dir), local, IDENT, apply, interval=60, status=status)


def test_a_newer_version_is_applied_saved_and_a_quiet_poll_is_a_304(
    cloud: CloudSection, s3: Any, local: AgentConfig, tmp_path: Path
) -> None:
    apply, status = Recorder(), ConfigStatus()
    remote = poller(cloud, local, apply, status)
    assert remote.poll_once() is False and apply.applied == []  # nothing published yet
    publish(s3, 1, {"sources": [folder("inbox", tmp_path / "inbox")], "heartbeat_seconds": 5})

    assert remote.poll_once() is True
    [config] = apply.applied
    assert [s.name for s in config.sources] == ["inbox"] and config.agent.heartbeat_seconds == 5
    assert status.report() == (1, None)
    saved = LastGood(local.agent.data_dir).load(IDENT)
    assert saved is not None and saved.version == 1

    etag = remote.fetcher.etag
    assert etag and remote.poll_once() is False and remote.fetcher.etag == etag  # 304: no body, nothing applied
    assert len(apply.applied) == 1


def test_a_bad_version_is_refused_reported_and_the_good_one_kept(
    cloud: CloudSection, s3: Any, local: AgentConfig, tmp_path: Path
) -> None:
    apply, status = Recorder(), ConfigStatus()
    remote = poller(cloud, local, apply, status)
    publish(s3, 1, {"sources": [folder("inbox", tmp_path / "inbox")]})
    assert remote.poll_once()
    publish(s3, 2, {"sources": [folder("inbox", tmp_path / "inbox", settle_seconds=-1)]})

    assert remote.poll_once() is True  # something to report
    assert len(apply.applied) == 1  # never applied
    version, rejection = status.report()
    assert version == 1 and rejection is not None and rejection.version == 2
    assert "sources[0].settle_seconds" in rejection.error
    assert remote.poll_once() is False  # the same object again: not refused (nor logged) twice
    assert LastGood(local.agent.data_dir).load(IDENT).version == 1  # type: ignore[union-attr]

    publish(s3, 3, {"sources": [folder("inbox", tmp_path / "inbox", settle_seconds=1)]})
    assert remote.poll_once() and status.report() == (3, None)  # a good one clears the refusal


def test_an_older_version_is_ignored(cloud: CloudSection, s3: Any, local: AgentConfig, tmp_path: Path) -> None:
    apply, status = Recorder(), ConfigStatus(applied=4)  # started with version 4 from its last good copy
    remote = poller(cloud, local, apply, status)
    publish(s3, 3, {"sources": []})
    assert remote.poll_once() is False and apply.applied == [] and status.report() == (4, None)
    publish(s3, 4, {"sources": []})
    assert remote.poll_once() is False and apply.applied == []  # the one it runs on already


def test_a_version_that_cannot_be_applied_is_refused(
    cloud: CloudSection, s3: Any, local: AgentConfig, tmp_path: Path
) -> None:
    apply, status = Recorder(), ConfigStatus()
    apply.fail = "source 'lab' cannot start: address already in use"
    remote = poller(cloud, local, apply, status)
    publish(s3, 1, {"sources": [{"kind": "mllp", "name": "lab", "port": 2575}]})
    assert remote.poll_once()
    version, rejection = status.report()
    assert version is None and rejection is not None and rejection.version == 1
    assert "address already in use" in rejection.error
    assert LastGood(local.agent.data_dir).load(IDENT) is None


def test_an_unreachable_cloud_changes_nothing(local: AgentConfig) -> None:
    cloud = CloudSection(bucket=BUCKET, endpoint_url="http://127.0.0.1:9", connect_timeout_seconds=0.5)
    apply, status = Recorder(), ConfigStatus(applied=2)
    remote = poller(cloud, local, apply, status)
    assert remote.poll_once() is False and remote.poll_once() is False
    assert apply.applied == [] and status.report() == (2, None)
