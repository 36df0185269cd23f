"""The issue's contract, with real parts: a lab request is ordered; an analyzer's ORU^R01 whose PID-3 is the
patient's OP number and whose OBR-3 is the request's specimen id goes over MLLP (a real socket, played by
`medflow-edge simulate hl7`) into the whole agent, to S3 on moto's server, through the bucket's notification
to SQS and the ingest handler (localdev's router); `GET /lab-requests/{id}` then answers COMPLETED with each
OBX's code, value and unit. A panic value raises `lab.critical`; a second ORU with an unknown specimen stays a
plain reading of the patient."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import events as events_repo
from chalicelib.db import readings as readings_repo
from chalicelib.resources import ResourceNames
from chalicelib.services import lab, patients, visits
from chalicelib.services.lab import LabTest
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from chalicelib.settings import get_settings
from edge_agent.__main__ import build_agent
from edge_agent.config import load_config
from localdev.router import Router
from tests.cloud.builders import bearer

pytestmark = pytest.mark.integration
CLINIC = "clinic-lab-e2e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _oru(control: str, patient: str, filler: str, *obx: str) -> str:
    return "\r".join([
        f"MSH|^~\\&|XN-550|SYSMEX|MEDFLOW|{CLINIC}|20261103095500||ORU^R01^ORU_R01|{control}|P|2.5.1",
        f"PID|1||{patient}^^^LAB^PI",
        f"OBR|1||{filler}|CBC^Complete blood count^L|||20261103094000",
        *obx,
    ]) + "\r"  # fmt: skip


def test_an_oru_over_mllp_completes_the_lab_request(cloud_server: ResourceNames, tmp_path: Path) -> None:
    scope = Scope.system(CLINIC, "user:doctor")
    fields = {"first_name": "Wairimu", "last_name": "Njoroge", "sex": "FEMALE", "age": 44, "phone": "+254712555000",
              "insurance_type": "CASH"}  # fmt: skip
    patient = patients.register(scope, fields)
    assert patient.op_number
    tests = [LabTest(code="HGB", name="Haemoglobin"), LabTest(code="WBC", name="White blood cells")]
    visit = visits.open_visit(
        scope,
        patient_id=patient.id,
        chief_complaint="Fatigue",
        triage_category=visits.TriageCategory.URGENT,
        payment_type=visits.PaymentType.CASH,
    )
    request = lab.create(scope, patient.id, visit.id, tests, "URGENT", None)

    oru = tmp_path / "oru.hl7"
    oru.write_text(_oru("R-1", patient.op_number, request.specimen_id,
                        "OBX|1|NM|HGB^Haemoglobin^L||13.1|g/dL|12-16|N|||F",
                        "OBX|2|NM|WBC^Leukocytes^L||52.0|10*3/uL|4-11|HH|||F"))  # fmt: skip
    stray = tmp_path / "stray.hl7"
    stray.write_text(_oru("R-2", patient.op_number, "L7777777", "OBX|1|NM|GLU^Glucose^L||5.4|mmol/L|||||F"))

    port = _free_port()
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[agent]
clinic_id = "{CLINIC}"
agent_id = "lab-pc"
data_dir = "{tmp_path / "data"}"
heartbeat_seconds = 3600

[cloud]
bucket = "{cloud_server.bucket}"
endpoint_url = "{get_settings().endpoint_url}"
backoff_base_seconds = 0.05
backoff_max_seconds = 0.2

[[sources]]
kind = "mllp"
name = "xn550"
host = "127.0.0.1"
port = {port}
device_id = "xn550-1"
""",
        encoding="utf-8",
    )
    agent = build_agent(load_config(config))
    agent.start()
    try:
        sent = subprocess.run(
            [sys.executable, "-m", "edge_agent", "simulate", "hl7", "--to", f"127.0.0.1:{port}", str(oru), str(stray)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.count("MSA|AA|") == 2, sent.stdout
        router = Router(get_settings(), retry_after_seconds=1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            router.poll_once(wait_seconds=1)
            done = lab.get(scope, request.id)
            readings = readings_repo.list_for_patient(CLINIC, patient.id, kind="lab", limit=10, next_token=None)
            if done.status == "COMPLETED" and len(readings.items) == 3:
                break
    finally:
        agent.stop()

    status, body = _get(f"/lab-requests/{request.id}")
    assert status == 200, body
    assert body["status"] == "COMPLETED"
    assert [(r["code"], r["value"], r["unit"]) for r in body["results"]] == [
        ("HGB", "13.1", "g/dL"), ("WBC", "52.0", "10*3/uL"),
    ]  # fmt: skip
    types = [e.type for e in events_repo.after(CLINIC, None, limit=100, next_token=None).items
             if e.subject.get("lab_request_id") == request.id]  # fmt: skip
    # One transaction's events share its time; their ids order them at random among themselves.
    assert sorted(types) == ["lab.critical", "lab.requested", "lab.results_ready"]
    # The stray result names no request: it is the patient's reading, as before.
    codes = sorted(r.reading["code"] for r in readings.items)
    assert codes == ["GLU", "HGB", "WBC"]


def _get(path: str) -> tuple[int, Any]:
    from app import app

    response = Client(app).http.get(path, headers=bearer(CLINIC, Role.LAB_TECHNICIAN))
    return response.status_code, response.json_body
