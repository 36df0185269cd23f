"""End to end, over real HTTP against `make run`'s stack: the receptionist opens a visit, the doctor orders lab
tests under it (each one a charge on the visit's bill), the lab technician works the worklist and fetches the HL7
order, an analyzer's ORU (played by `medflow-edge simulate hl7` over MLLP to the stack's agent) completes the request
by itself, with `lab.critical` for a panic value; a stray ORU stays a plain reading; roles without the permission
are refused and another clinic sees none of it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local_stack import LocalStack, _eventually
from tests.e2e.test_staff_platform import Staff, _hire

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path_factory.mktemp("lab") / "var")
    stack.start()
    yield stack
    stack.stop()


def _oru(control: str, patient: str, filler: str, *obx: str) -> str:
    head = [f"MSH|^~\\&|XN-550|SYSMEX|MEDFLOW|demo|20261103095500||ORU^R01^ORU_R01|{control}|P|2.5.1",
            f"PID|1||{patient}^^^LAB^PI", f"OBR|1||{filler}|CBC^Complete blood count^L|||20261103094000"]  # fmt: skip
    return "\r".join([*head, *obx]) + "\r"


def _simulate(stack: LocalStack, *files: Path) -> str:
    sent = subprocess.run(
        [sys.executable, "-m", "edge_agent", "simulate", "hl7", "--to", f"127.0.0.1:{stack.mllp_port}",
         *map(str, files)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    return sent.stdout


def _visit(desk: Staff, patient_id: str) -> str:
    """The visit the tests are ordered under: the receptionist opens it (POST /visits) for the registered patient."""
    body = {"patient_id": patient_id, "chief_complaint": "Fatigue and dizziness", "triage_category": "URGENT",
            "payment_type": "CASH"}  # fmt: skip
    status, visit = desk("POST", "/visits", body)
    assert status == 201, visit
    assert visit["status"] == "REGISTERED"
    return str(visit["id"])


def test_an_analyzer_result_completes_the_doctors_lab_request(running: LocalStack, tmp_path: Path) -> None:
    admin = Staff(running, running.login())
    desk, doctor, nurse, lab, cashier = (
        _hire(admin, role) for role in ("receptionist", "doctor", "nurse", "lab_technician", "cashier")
    )
    person = {"first_name": "Wanjiru", "last_name": "Kamau", "sex": "FEMALE", "age": 29, "phone": "+254712999000",
              "insurance_type": "CASH"}  # fmt: skip
    status, patient = desk("POST", "/patients", person)
    assert status == 201, patient
    visit_id = _visit(desk, patient["id"])
    tests = [{"code": "HGB", "name": "Haemoglobin"}, {"code": "WBC", "name": "Leukocytes"}]
    order: dict[str, Any] = {"patient_id": patient["id"], "visit_id": visit_id, "urgency": "STAT", "tests": tests}

    # Only prescribers order; the lab technician enters results but does not order.
    assert nurse("POST", "/lab-requests", order)[0] == 403
    assert lab("POST", "/lab-requests", order)[0] == 403
    status, request = doctor("POST", "/lab-requests", order)
    assert status == 201, request
    assert request["status"] == "PENDING" and request["specimen_id"] and request["visit_id"] == visit_id
    specimen = request["specimen_id"]
    # Each ordered test is a LAB_TEST charge on the visit's bill.
    status, bill = cashier("GET", f"/visits/{visit_id}/bill")
    assert status == 200, bill
    assert sorted(line["code"] for line in bill["charges"] if line["kind"] == "LAB_TEST") == ["HGB", "WBC"]

    # The lab's worklist, and the HL7 order for the analyzer.
    status, worklist = lab("GET", "/lab-requests?status=PENDING")
    assert status == 200 and request["id"] in [item["id"] for item in worklist["items"]]
    status, hl7 = lab("GET", f"/lab-requests/{request['id']}/order")
    assert status == 200 and f"|{specimen}|{specimen}|HGB^Haemoglobin^L|" in hl7["message"]
    assert cashier("GET", f"/lab-requests/{request['id']}")[0] == 403

    # The analyzer answers with the OP number in PID-3 and the specimen id in OBR-3; a stray result too.
    result, stray = tmp_path / "result.hl7", tmp_path / "stray.hl7"
    result.write_text(_oru("E2E-1", patient["op_number"], specimen, "OBX|1|NM|HGB^Haemoglobin^L||6.1|g/dL|12-16|LL|||F",
                           "OBX|2|NM|WBC^Leukocytes^L||8.4|10*3/uL|4-11|N|||F"))  # fmt: skip
    stray.write_text(_oru("E2E-2", patient["op_number"], "L9999999", "OBX|1|NM|GLU^Glucose^L||5.4|mmol/L|||||F"))
    assert _simulate(running, result, stray).count("MSA|AA|") == 2

    def completed() -> dict[str, Any] | None:
        status, body = lab("GET", f"/lab-requests/{request['id']}")
        return body if status == 200 and body["status"] == "COMPLETED" else None

    done = _eventually(completed, seconds=60)
    assert [(r["code"], r["value"], r["unit"]) for r in done["results"]] == [("HGB", "6.1", "g/dL"),
                                                                             ("WBC", "8.4", "10*3/uL")]  # fmt: skip
    status, events = admin("GET", "/events")
    mine = [e for e in events["items"] if e["subject"].get("lab_request_id") == request["id"]]
    # One transaction's events share its time; their ids order them at random among themselves.
    assert sorted(e["type"] for e in mine) == ["lab.critical", "lab.requested", "lab.results_ready"]
    assert next(e for e in mine if e["type"] == "lab.critical")["subject"]["codes"] == "HGB"

    def stray_reading() -> list[str] | None:
        status, page = doctor("GET", f"/patients/{patient['id']}/readings?kind=lab")
        codes = sorted(item["reading"]["code"] for item in page["items"]) if status == 200 else []
        return codes if "GLU" in codes else None

    assert _eventually(stray_reading, seconds=30) == ["GLU", "HGB", "WBC"]

    # A completed request is not reopened by hand.
    status, error = lab("PUT", f"/lab-requests/{request['id']}", {"results": [{"code": "HGB", "value": "12.0"}]})
    assert status == 409 and error["code"] == "lab_request_closed"

    # Another clinic's staff see none of it.
    status, clinic = admin("POST", "/clinics", {"name": "Other Lab Clinic", "timezone": "Africa/Nairobi",
                                                "currency": "KES"})  # fmt: skip
    assert status == 201, clinic
    elsewhere = _hire(admin, "lab_technician", clinic["id"])
    assert elsewhere("GET", f"/lab-requests/{request['id']}")[0] == 404
    assert elsewhere("GET", f"/lab-requests/{request['id']}/order")[0] == 404
    status, page = elsewhere("GET", "/lab-requests?status=COMPLETED")
    assert status == 200 and page["items"] == []
