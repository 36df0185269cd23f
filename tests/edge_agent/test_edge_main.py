"""`medflow-edge run` as a process: bad config exits 2 naming the key; a dropped corpus file reaches S3."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET

from edge_agent.__main__ import main

REPO = Path(__file__).resolve().parents[2]
TOPASCOPE = "ophthalmic/ukinoki__Rufus__RODENSTOCK_TopaScope_TOMEY_TOP-1000_tonometer.xml"


def config_text(endpoint: str, extra: str = "") -> str:
    return f"""
[agent]
clinic_id = "clinic1"
agent_id = "agent1"
data_dir = "data"
heartbeat_seconds = 0.5

[cloud]
bucket = "{BUCKET}"
endpoint_url = "{endpoint}"
backoff_base_seconds = 0.05
backoff_max_seconds = 0.5

[[sources]]
kind = "folder"
name = "inbox"
path = "inbox"
settle_seconds = 0.3
patient_id_patterns = ["{{patient_id}}/*"]
{extra}"""


def test_bad_config_exits_2_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(config_text("http://127.0.0.1:1", "settle_secs = 3\n"), encoding="utf-8")
    assert main(["run", "--config", str(path)]) == 2
    assert "sources[0].settle_secs: Extra inputs are not permitted" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "missing.toml")]) == 2


def test_a_source_kind_not_installed_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "edge_agent.sources.astm_tcp", None)  # makes the lazy import fail
    path = tmp_path / "agent.toml"
    extra = '[[sources]]\nkind = "astm_tcp"\nname = "lab"\nport = 1\n'
    path.write_text(config_text("http://127.0.0.1:1", extra), encoding="utf-8")
    assert main(["run", "--config", str(path)]) == 2
    assert "source 'lab': kind 'astm_tcp' is not available" in capsys.readouterr().err


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


@pytest.mark.integration
def test_run_takes_a_dropped_device_file_to_s3_and_stops_on_sigterm(
    tmp_path: Path, aws_endpoint: str, s3: Any, corpus_dir: Path
) -> None:
    (tmp_path / "inbox" / "00000033").mkdir(parents=True)
    config = tmp_path / "agent.toml"
    config.write_text(config_text(aws_endpoint), encoding="utf-8")
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        cwd=REPO, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        dropped = tmp_path / "inbox" / "00000033" / "tono.xml"
        shutil.copy(corpus_dir / TOPASCOPE, dropped)
        (tmp_path / "inbox" / "garbage.bin").write_bytes(b"\x00\x01\x02 not a device file")

        def listed() -> list[str]:
            return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))

        assert wait_for(lambda: len([k for k in listed() if not k.startswith("agents/")]) == 4, 15), listed()
        keys = listed()
        env_key = next(k for k in keys if k.startswith("envelopes/clinic1/"))
        env = json.loads(s3.get_object(Bucket=BUCKET, Key=env_key)["Body"].read())
        assert env["patient"]["id"] == "00000033" and env["source"]["kind"] == "folder"
        assert env["raw"]["key"] in keys and env["raw"]["original_name"] == "tono.xml"
        od = sorted(r["iop_mmhg"] for r in env["readings"] if r["kind"] == "tonometry" and r["eye"] == "OD")
        assert od == [15, 15.6, 16, 24]
        assert any(k.startswith("quarantine/clinic1/") for k in keys)
        assert "agents/clinic1/agent1/heartbeat.json" in keys
        assert dropped.read_bytes() == (corpus_dir / TOPASCOPE).read_bytes()  # the original stays as it was
        status = subprocess.run(
            [sys.executable, "-m", "edge_agent", "status", "--config", str(config), "--json"],
            cwd=REPO, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["counts"]["uploaded"] == 2
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=20)
    assert agent.returncode == 0, stderr
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "agent stopped" for entry in logs)
    assert "00000033" not in stderr and "tono.xml" not in stderr  # no patient id or file name in logs


def test_parse_workers_are_built_for_the_mllp_source_that_wants_the_most() -> None:
    from agent_testkit import IDENT

    from edge_agent.__main__ import build_parse_pool
    from edge_agent.config import parse_config
    from edge_agent.intake.describer import Describer

    def config(*workers: int) -> Any:
        sources = [
            {"kind": "mllp", "name": f"lab{n}", "port": 2575 + n, "parse_workers": w} for n, w in enumerate(workers)
        ]
        return parse_config({"agent": {"clinic_id": "c1", "agent_id": "a1", "data_dir": "data"},
                             "cloud": {"bucket": BUCKET}, "sources": sources})  # fmt: skip

    describer = Describer(IDENT, [])
    pool = build_parse_pool(config(1, 2, 0), describer)
    assert pool is not None and (pool.name, pool.size) == ("lab1", 2)  # not started: no process yet
    assert build_parse_pool(config(0, 0), describer) is None
