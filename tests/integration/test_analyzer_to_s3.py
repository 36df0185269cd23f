"""An analyzer on a serial line, end to end: ASTM E1381 over a socat null-modem pair into the whole
agent (serial source, spool, uploader) and on to S3 on moto's server, played by `medflow-edge simulate`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from edge_agent.__main__ import build_agent
from edge_agent.config import load_config

pytestmark = pytest.mark.integration
XP100 = "astm/senaite__senaite.astm__sysmex_xp100.txt"
BUCKET = "medflow-analyzer-test"


def _objects(s3: Any, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_astm_over_serial_reaches_s3(
    null_modem: tuple[Path, Path], aws_endpoint: str, corpus_dir: Path, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    agent_tty, device_tty = null_modem
    config_path = tmp_path / "agent.toml"
    config_path.write_text(
        f"""
[agent]
clinic_id = "lab1"
agent_id = "bench-pc"
data_dir = "{tmp_path / "data"}"
heartbeat_seconds = 3600

[cloud]
bucket = "{BUCKET}"
endpoint_url = "{aws_endpoint}"

[[sources]]
kind = "serial"
name = "xp100"
device = "{agent_tty}"
baudrate = 9600
protocol = "astm"
""",
        encoding="utf-8",
    )
    agent = build_agent(load_config(config_path))
    agent.start()
    try:
        time.sleep(0.5)  # the serial source opens its port
        sim = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge_agent",
                "simulate",
                "astm",
                "--serial",
                str(device_tty),
                str(corpus_dir / XP100),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sim.returncode == 0, sim.stdout + sim.stderr
        deadline = time.monotonic() + 15
        while not _objects(s3, "envelopes/lab1/") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        agent.stop()
    envelopes = _objects(s3, "envelopes/lab1/")
    assert len(envelopes) == 1, envelopes
    assert len(_objects(s3, "raw/lab1/")) == 1
    env = json.loads(s3.get_object(Bucket=BUCKET, Key=envelopes[0])["Body"].read())
    assert env["source"]["kind"] == "serial"
    labs = {r["code"]: r for r in env["readings"] if r["kind"] == "lab"}
    wbc = next(r for code, r in labs.items() if code.endswith("WBC"))
    assert (wbc["value"], wbc["numeric"], wbc["unit"]) == ("5.5", 5.5, "10*3/uL")
    hct = next(r for code, r in labs.items() if code.endswith("HCT"))
    assert hct["numeric"] == 24.2 and "L" in hct["flags"]
