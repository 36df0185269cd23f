"""`medflow-edge doctor` against real peers: the moto server, a real folder, real sockets; exit 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agent_testkit import BUCKET

from edge_agent.__main__ import main
from edge_agent.commands.doctor import check_clock, listening_process
from edge_agent.spool import Spool
from localdev.moto import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def write_config(tmp_path: Path, endpoint: str, *, bucket: str = BUCKET, port: int | None = None) -> Path:
    port = port or free_port()
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
clinic_id = "clinic1"
agent_id = "agent1"
data_dir = "data"
max_spool_bytes = 1000000

[cloud]
bucket = "{bucket}"
endpoint_url = "{endpoint}"
connect_timeout_seconds = 2

[[sources]]
kind = "folder"
name = "inbox"
path = "inbox"

[[sources]]
kind = "mllp"
name = "lab"
port = {port}
""",
        encoding="utf-8",
    )
    return path


def doctor(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, str]], str]:
    code = main(["doctor", "--config", str(config), "--json"])
    out = capsys.readouterr().out
    return code, {c["name"]: c for c in json.loads(out)["checks"]}, out


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    (tmp_path / "inbox" / "00000033").mkdir(parents=True)
    (tmp_path / "inbox" / "00000033" / "Smith_John.xml").write_text("<x/>")
    (tmp_path / "inbox" / "tono.xml").write_text("<x/>")
    return tmp_path / "inbox"


def test_all_ok_against_moto(tmp_path: Path, inbox: Path, aws_endpoint: str, s3: Any, capsys: Any) -> None:
    Spool(tmp_path / "data").close()  # an agent has run here
    code, checks, out = doctor(write_config(tmp_path, aws_endpoint), capsys)
    assert code == 0, out
    assert list(checks) == ["config", "data_dir", "disk", "spool", "source inbox", "source lab", "s3 bucket",
                            "s3 write", "clock"]  # fmt: skip
    assert all(c["status"] == "ok" for name, c in checks.items() if name != "disk"), out  # disk may warn on CI
    assert "readable, 2 file(s) (subfolders included)" in checks["source inbox"]["message"]
    assert "quick_check ok, 0 item(s)" in checks["spool"]["message"]
    assert "is free to listen on" in checks["source lab"]["message"]
    assert "probes/clinic1/agent1/doctor.json" in checks["s3 write"]["message"]
    assert "S3's clock" in checks["clock"]["message"]
    # one probe, outside the prefixes ingest is notified of (NOTIFY_PREFIXES), overwritten by every run
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["probes/clinic1/agent1/doctor.json"]
    assert "Smith" not in out and "00000033" not in out  # paths and counts only, never a file name


def test_text_output_and_a_spool_not_created_yet(tmp_path: Path, inbox: Path, aws_endpoint: str, s3: Any,
                                                 capsys: Any) -> None:  # fmt: skip
    assert main(["doctor", "--config", str(write_config(tmp_path, aws_endpoint))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("OK    config") and lines[-1] == "all checks passed"
    assert any(line.startswith("OK    spool") and "creates it at its first start" in line for line in lines)
    assert not (tmp_path / "data").exists()  # the doctor creates nothing


def test_missing_folder_fails(tmp_path: Path, aws_endpoint: str, s3: Any, capsys: Any) -> None:
    code, checks, _ = doctor(write_config(tmp_path, aws_endpoint), capsys)
    assert code == 1
    assert checks["source inbox"]["status"] == "fail"
    assert checks["source inbox"]["message"] == f"folder {tmp_path / 'inbox'} does not exist (is the share mounted?)"
    assert checks["s3 write"]["status"] == "ok"  # the other checks still ran


def test_unreachable_endpoint_fails(tmp_path: Path, inbox: Path, capsys: Any) -> None:
    code, checks, _ = doctor(write_config(tmp_path, f"http://127.0.0.1:{free_port()}"), capsys)
    assert code == 1
    assert checks["s3 bucket"]["status"] == "fail" and "cannot reach bucket" in checks["s3 bucket"]["message"]
    assert "EndpointConnectionError" in checks["s3 bucket"]["message"] and "s3 write" not in checks
    assert checks["clock"]["status"] == "warn"  # nothing to compare with


def test_bad_bucket_fails(tmp_path: Path, inbox: Path, aws_endpoint: str, s3: Any, capsys: Any) -> None:
    code, checks, _ = doctor(write_config(tmp_path, aws_endpoint, bucket="no-such-bucket"), capsys)
    assert code == 1
    message = checks["s3 bucket"]["message"]
    assert checks["s3 bucket"]["status"] == "fail" and "bucket no-such-bucket at http://" in message
    assert "does not exist (s3:404 (HTTP 404)); the agent never creates it" in message


def test_a_port_held_by_another_program_fails_naming_it(
    tmp_path: Path, inbox: Path, aws_endpoint: str, s3: Any, capsys: Any
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert listening_process(port) is not None and listening_process(port)[0] == os.getpid()  # type: ignore[index]
        code, checks, _ = doctor(write_config(tmp_path, aws_endpoint, port=port), capsys)
    assert code == 1 and checks["source lab"]["status"] == "fail"
    assert f"127.0.0.1:{port} is in use by another program (pid {os.getpid()}:" in checks["source lab"]["message"]


def test_config_and_usage_errors(tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDFLOW_EDGE_CONFIG", raising=False)
    assert main(["doctor"]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[agent]\nclinic_id = "c"\nagent_id = "a"\ndata_dir = "d"\nhealth_prot = 1\n[cloud]\nbucket = "bbb"')
    code, checks, _ = doctor(bad, capsys)
    assert code == 1 and list(checks) == ["config"]
    assert "agent.health_prot: Extra inputs are not permitted" in checks["config"]["message"]


def test_clock_skew_thresholds() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert check_clock(now - timedelta(seconds=5), now).status == "ok"
    assert check_clock(now - timedelta(minutes=5), now).status == "warn"
    late = check_clock(now + timedelta(minutes=20), now)
    assert late.status == "fail" and late.message.startswith("1200 s behind S3's clock")
    assert check_clock(None, datetime(1970, 1, 1, tzinfo=UTC)).status == "fail"


def test_a_port_held_by_the_running_agent_is_ok_and_names_it(
    tmp_path: Path, inbox: Path, aws_endpoint: str, s3: Any, capsys: Any
) -> None:
    port = free_port()
    config = write_config(tmp_path, aws_endpoint, port=port)
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        cwd=REPO, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while listening_process(port) is None:
            assert time.monotonic() < deadline and agent.poll() is None, "the agent did not start listening"
            time.sleep(0.05)
        code, checks, out = doctor(config, capsys)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(20)
    assert code == 0, out
    message = checks["source lab"]["message"]
    assert message == f"127.0.0.1:{port} is in use by the running agent (pid {agent.pid}, {config})"
