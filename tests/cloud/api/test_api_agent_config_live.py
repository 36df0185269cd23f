"""Remote configuration end to end, with real parts: an admin PUTs an agent's configuration to the API (in-process,
S3 and DynamoDB on moto's server); the whole agent polls it from S3, adds the folder source live and takes a file
dropped into it; its heartbeat goes through the bucket's notification and the ingest handler (localdev's router),
so GET /agents and GET /agents/{id}/config show the version it runs on. A configuration the cloud accepts but the
agent cannot run (its port is taken) is refused by the agent, reported, and version 1 keeps running."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from chalicelib.settings import get_settings
from edge_agent.__main__ import build_agent
from edge_agent.config import load_config
from localdev.router import Router
from tests.cloud.builders import REGION, bearer

pytestmark = pytest.mark.integration
CLINIC, AGENT = "clinic-remote", "frontdesk-pc"


def wait_for(check: Callable[[], Any], what: str, router: Router | None = None, timeout: float = 45) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if router is not None:
            router.poll_once(wait_seconds=1)
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_admin_adds_a_source_and_the_agent_runs_it(cloud_server: ResourceNames, api: Client, tmp_path: Path) -> None:
    settings = get_settings()
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
clinic_id = "{CLINIC}"
agent_id = "{AGENT}"
data_dir = "{tmp_path / "data"}"
heartbeat_seconds = 1
remote_config = true
remote_config_seconds = 0.2

[cloud]
bucket = "{cloud_server.bucket}"
endpoint_url = "{settings.endpoint_url}"
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2
""",
        encoding="utf-8",
    )
    router = Router(settings, retry_after_seconds=1)
    admin = {**bearer(CLINIC, Role.ADMIN), "Content-Type": "application/json"}
    path = f"/agents/{AGENT}/config"

    def agent_row() -> dict[str, Any]:
        items = api.http.get("/agents", headers=admin).json_body["items"]
        return dict(items[0]) if items else {}

    agent = build_agent(load_config(config))
    agent.start()
    try:
        wait_for(agent_row, "the agent's first heartbeat to be ingested", router)
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        folder = {"kind": "folder", "name": "inbox", "path": str(inbox), "settle_seconds": 0.2, "rescan_seconds": 0.3}
        body: dict[str, Any] = {"expected_version": 0, "config": {"sources": [folder]}}
        answer = api.http.put(path, headers=admin, body=json.dumps(body))
        assert answer.status_code == 200, answer.body

        (inbox / "export.bin").write_bytes(b"not a device format, uploaded raw\n")
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=settings.endpoint_url)
        listed = lambda: s3.list_objects_v2(Bucket=cloud_server.bucket, Prefix=f"raw/{CLINIC}/").get("Contents")  # noqa: E731
        wait_for(listed, "the file dropped into the published folder to reach S3")
        wait_for(lambda: agent_row().get("config_version") == 1, "GET /agents to show version 1 applied", router)

        with socket.socket() as taken:  # version 2 passes the schema, but its port is held by someone else
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            lab = {"kind": "mllp", "name": "lab", "host": "127.0.0.1", "port": port}
            body = {"expected_version": 1, "config": {"sources": [folder, lab]}}
            assert api.http.put(path, headers=admin, body=json.dumps(body)).status_code == 200
            refused = wait_for(
                lambda: api.http.get(path, headers=admin).json_body["rejected"], "the agent's refusal", router
            )
        assert refused["version"] == 2 and "'lab' cannot start" in refused["error"], refused
        shown = api.http.get(path, headers=admin).json_body
        assert (shown["version"], shown["applied_version"]) == (2, 1)
        assert [c.name for c in agent.sources.configs] == ["inbox"]  # version 1 still runs
    finally:
        agent.stop()
