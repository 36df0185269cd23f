"""The agent SIGKILLed mid C-STORE association: nothing half-stored, a resend stores each instance once."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from edge_agent.spool import Spool

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
FILES = 24
KILL_AFTER = 3  # successes the modality has seen when the agent dies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp: Path, port: int) -> Path:
    config = tmp / "agent.toml"
    config.write_text(
        f"""
[agent]
clinic_id = "c1"
agent_id = "a1"
data_dir = "data"
heartbeat_seconds = 3600

[cloud]
bucket = "medflow-ingest-test"
endpoint_url = "http://127.0.0.1:{free_port()}"   # nothing listens: uploads wait, the spool keeps all
backoff_base_seconds = 30

[[sources]]
kind = "dicom_scp"
name = "fundus"
port = {port}
ae_title = "MEDFLOW"
allowed_calling_aes = ["FUNDUS1"]
"""
    )
    return config


def start_agent(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(config)], cwd=REPO, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            assert proc.poll() is None, "the agent exited at start"
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the agent's SCP did not listen within 30 s")


def modality_files(corpus: Path, folder: Path) -> dict[str, Path]:
    """Distinct instances (a new SOP Instance UID each) of a corpus photograph, written to the test's tmp dir."""
    folder.mkdir()
    files = {}
    for i in range(FILES):
        ds = pydicom.dcmread(corpus / "ophthalmic" / "pontikos-lab__process-dcm__fundus.dcm")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        path = folder / f"IM{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files[str(ds.SOPInstanceUID)] = path
    return files


def spooled(data: Path) -> dict[str, str]:
    """SOP Instance UID → sha256 of every spooled item, checking each item's bytes hash to its identity."""
    spool = Spool(data)
    try:
        found = {}
        for row in spool.ledger.connection.query("SELECT item_id, sha256 FROM items"):
            raw = spool.read_raw(row["item_id"], row["sha256"])
            assert hashlib.sha256(raw).hexdigest() == row["sha256"], "an item's bytes do not match its sha256"
            uid = str(pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True).SOPInstanceUID)
            assert uid not in found, f"instance {uid} stored twice"
            found[uid] = row["sha256"]
        return found
    finally:
        spool.close()


def test_sigkill_mid_association_then_resend_stores_every_instance_once(tmp_path: Path, corpus_dir: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    files = modality_files(corpus_dir, tmp_path / "modality")
    storescu = [sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(port), str(tmp_path / "modality"),
                "-aet", "FUNDUS1", "-aec", "MEDFLOW", "-cx", "-v"]  # fmt: skip

    agent = start_agent(config, port)
    sender = subprocess.Popen(storescu, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert sender.stdout is not None
    acked: list[str] = []
    sending = ""
    for line in sender.stdout:
        if line.startswith("I: Sending file: "):
            sending = line.removeprefix("I: Sending file: ").strip()
        elif "Status: 0x0000" in line:
            acked.append(sending)
            if len(acked) == KILL_AFTER:
                os.kill(agent.pid, signal.SIGKILL)
    sender.wait(60)
    agent.wait(10)
    assert KILL_AFTER <= len(acked) < FILES, f"the kill did not land mid-association ({len(acked)} stored)"

    data = tmp_path / "data"
    with sqlite3.connect(data / "spool.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after_kill = spooled(data)
    acked_uids = {uid for uid, path in files.items() if str(path) in acked}
    assert acked_uids <= set(after_kill), "an instance the modality saw succeed is not in the spool"

    # Restart; the modality sends the whole folder again (it cannot know which ones were taken).
    agent = start_agent(config, port)
    try:
        resent = subprocess.run(storescu, capture_output=True, text=True, timeout=120)
        assert (resent.stdout + resent.stderr).count("Status: 0x0000") == FILES, resent.stderr
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    final = spooled(data)
    assert set(final) == set(files)  # every instance once (spooled() fails on a second copy)
    assert {uid: final[uid] for uid in after_kill} == after_kill  # what was taken before the kill was kept as is
    blobs = {p.name for p in (data / "blobs").rglob("*") if p.is_file()}
    assert blobs <= set(final.values()), "a blob left by the killed association was not tidied"
