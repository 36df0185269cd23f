"""The whole agent (`build_agent`: MLLP source, intake, spool, uploader) over a real socket into S3 on
moto's server: an analyzer's ORU^R01 from the corpus, sent by `simulate`, answered AA, found in S3."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from edge_agent.__main__ import build_agent
from edge_agent.commands.simulate import hl7_messages, send_hl7
from edge_agent.config import load_config

pytestmark = pytest.mark.integration
HEMOSCREEN = "hl7/senaite__senaite.astm__hemoscreen_with_flags.hl7"  # ORU^R01, WBC 11.7 10*3/uL first
BUCKET = "medflow-mllp-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keys(s3: Any, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_oru_over_mllp_is_acked_and_reaches_s3_with_its_lab_readings(
    aws_endpoint: str, corpus_dir: Path, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)  # the agent never creates buckets
    port = _free_port()
    config_path = tmp_path / "agent.toml"
    config_path.write_text(
        f"""
[agent]
clinic_id = "lab1"
agent_id = "lab-pc"
data_dir = "{tmp_path / "data"}"
heartbeat_seconds = 3600

[cloud]
bucket = "{BUCKET}"
endpoint_url = "{aws_endpoint}"
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2

[[sources]]
kind = "mllp"
name = "hemoscreen"
host = "127.0.0.1"
port = {port}
device_id = "hemoscreen-1"
""",
        encoding="utf-8",
    )
    raw = (corpus_dir / HEMOSCREEN).read_bytes()
    (message,) = hl7_messages(raw)  # what goes over the wire (CR-separated segments)
    agent = build_agent(load_config(config_path))
    agent.start()
    try:
        out = io.StringIO()
        assert send_hl7("127.0.0.1", port, [raw], out) == 0, out.getvalue()
        assert out.getvalue().startswith("MSA|AA|0")  # MSA-2 echoes the message's MSH-10
        deadline = time.monotonic() + 15
        while len(_keys(s3, "")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        agent.stop()

    sha = hashlib.sha256(message).hexdigest()
    (raw_key,) = _keys(s3, "raw/lab1/")
    assert raw_key.endswith(f"/{sha}.hl7")
    assert s3.get_object(Bucket=BUCKET, Key=raw_key)["Body"].read() == message
    (env_key,) = _keys(s3, "envelopes/lab1/")
    envelope = json.loads(s3.get_object(Bucket=BUCKET, Key=env_key)["Body"].read())
    assert envelope["kind"] == "observations" and envelope["raw"]["key"] == raw_key
    assert envelope["source"]["kind"] == "mllp" and envelope["source"]["device_id"] == "hemoscreen-1"
    assert envelope["patient"]["id"] == "35" and envelope["context"]["message_type"] == "ORU^R01"
    assert len(envelope["readings"]) == 20
    wbc = envelope["readings"][0]
    assert (wbc["kind"], wbc["code"], wbc["value"], wbc["numeric"], wbc["unit"]) == (
        "lab", "WBC", "11.7", 11.7, "10*3/uL",
    )  # fmt: skip
