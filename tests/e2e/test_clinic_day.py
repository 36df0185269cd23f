"""Issue 12's proof, end to end over real HTTP against `make run`'s stack: seed 001's outpatient journey walked by a
user of each role doing its own step (prices, registration and visit, triage and allergy, consultation, ICD-10
diagnosis, allergy-checked prescriptions, a lab request that an analyzer's ORU over MLLP completes, dispensing,
payment of the exact balance, discharge with a follow-up that holds the doctor's slot), every step refused to a
role without the permission (docs/roles.md), money as a JSON number refused naming the field, and a second clinic
that sees none of it. The README's "A day at the clinic" walks the same steps with curl and the same bodies."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local_stack import LocalStack, _eventually
from tests.e2e.test_staff_platform import PASSWORD, Staff, _log_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# The README's bodies (README.md, "A day at the clinic"): keep them in step.
PRICES = {"items": [
    {"kind": "CONSULTATION", "code": "CONSULTATION", "name": "Outpatient consultation", "price": "500.00"},
    {"kind": "LAB_TEST", "code": "CBC", "name": "Complete blood count", "price": "800.00"},
    {"kind": "MEDICATION", "code": "PARACETAMOL", "name": "Paracetamol 500mg tablet", "price": "10.00"},
]}  # fmt: skip
PERSON = {"first_name": "Baraka", "last_name": "Mwangi", "sex": "MALE", "date_of_birth": "1988-07-02",
          "phone": "+254722100200", "insurance_type": "CASH"}  # fmt: skip
VISIT = {"chief_complaint": "Fever and sore throat for 3 days", "triage_category": "NORMAL", "payment_type": "CASH"}
VITALS = {"blood_pressure": "118/76", "temperature": 38.4, "pulse": 92, "respiratory_rate": 18, "spo2": 97,
          "weight_kg": 72, "height_cm": 178}  # fmt: skip
ALLERGY = {"substance": "Penicillin", "reaction": "Urticaria", "severity": "SEVERE"}
RX = {"dosage": "500mg", "frequency": "3 times daily", "duration": "5 days"}
LAB_TESTS = [{"code": "CBC", "name": "Complete blood count"}]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(tmp_path_factory.mktemp("day") / "var")
    stack.start()
    yield stack
    stack.stop()


def _hire(admin: Staff, role: str, clinic: str | None = None) -> tuple[Staff, str]:
    """A staff user of `role` (in `clinic`, else the admin's own), logged in, and its user id."""
    email = f"{role}@{clinic or 'demo'}.day.test"
    body: dict[str, Any] = {"email": email, "password": PASSWORD, "role": role, "name": role.title()}
    if clinic:
        body["clinic_id"] = clinic
    status, user = admin("POST", "/users", body)
    assert status == 201 and user["role"] == role, user
    return _log_in(admin.stack, email), user["id"]


def _refused(who: Staff, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    status, answer = who(method, path, body)
    assert (status, answer["code"]) == (403, "forbidden"), (method, path, status, answer)


def _ok(answer: tuple[int, Any], status: int = 200) -> Any:
    assert answer[0] == status, answer
    return answer[1]


def _events(who: Staff) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    path = "/events?limit=200"
    while True:
        page = _ok(who("GET", path))
        items += page["items"]
        if not page.get("next"):
            return items
        path = f"/events?limit=200&next={page['next']}"


def _oru(op_number: str, specimen: str) -> str:
    """What the analyzer sends: the OP number in PID-3, the specimen id in OBR-3, the CBC panel in OBR-4."""
    return "\r".join([
        "MSH|^~\\&|XN-550|SYSMEX|MEDFLOW|demo|20261103095500||ORU^R01^ORU_R01|DAY-1|P|2.5.1",
        f"PID|1||{op_number}^^^LAB^PI",
        f"OBR|1||{specimen}|CBC^Complete blood count^L|||20261103094000",
        "OBX|1|NM|HGB^Haemoglobin^L||13.1|g/dL|12-16|N|||F",
        "OBX|2|NM|WBC^Leukocytes^L||12.4|10*3/uL|4-11|H|||F",
    ]) + "\r"  # fmt: skip


def _simulate(stack: LocalStack, message: Path) -> str:
    sent = subprocess.run(
        [sys.executable, "-m", "edge_agent", "simulate", "hl7", "--to", f"127.0.0.1:{stack.mllp_port}", str(message)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    return sent.stdout


def test_a_day_at_the_clinic_each_role_its_own_step(running: LocalStack, tmp_path: Path) -> None:
    admin = Staff(running, running.login())
    hired = {role: _hire(admin, role) for role in ("receptionist", "nurse", "doctor", "lab_technician", "pharmacist",
                                                   "cashier")}  # fmt: skip
    desk, nurse, doctor, lab, pharmacist, cashier = (staff for staff, _ in hired.values())
    doctor_id = hired["doctor"][1]

    # --- The admin sets the prices; money is a decimal string, never a JSON number. -------------------------
    _refused(desk, "PUT", "/prices", PRICES)
    _refused(cashier, "PUT", "/prices", PRICES)
    status, error = admin("PUT", "/prices", {"items": [{**PRICES["items"][0], "price": 500}]})
    assert (status, error["code"], error["field"]) == (422, "invalid_request", "items.0.price"), error
    prices = _ok(admin("PUT", "/prices", PRICES))
    assert [(p["kind"], p["code"], p["price"], p["currency"]) for p in prices["items"]] == [
        ("CONSULTATION", "CONSULTATION", "500.00", "KES"), ("LAB_TEST", "CBC", "800.00", "KES"),
        ("MEDICATION", "PARACETAMOL", "10.00", "KES")]  # fmt: skip

    # --- The receptionist registers the patient and opens the visit (with its consultation charge). --------
    _refused(pharmacist, "POST", "/patients", PERSON)
    patient = _ok(desk("POST", "/patients", PERSON), 201)
    patient_id, op_number = patient["id"], patient["op_number"]
    _refused(pharmacist, "POST", "/visits", {"patient_id": patient_id, **VISIT})
    _refused(cashier, "POST", "/visits", {"patient_id": patient_id, **VISIT})
    visit = _ok(desk("POST", "/visits", {"patient_id": patient_id, **VISIT}), 201)
    visit_id, day = visit["id"], visit["day"]
    assert (visit["status"], visit["patient_id"], visit["charges_total"], visit["paid_total"], visit["balance"],
            visit["payment_status"]) == ("REGISTERED", patient_id, "500.00", "0.00", "500.00", "UNPAID")  # fmt: skip
    status, error = desk("POST", "/visits", {"patient_id": patient_id, **VISIT})
    assert (status, error["code"], error["existing_id"]) == (409, "visit_already_open", visit_id), error
    queue = _ok(nurse("GET", f"/visits?date={day}"))
    assert [(v["id"], v["status"]) for v in queue["items"]] == [(visit_id, "REGISTERED")]

    def move(who: Staff, status: str, **more: Any) -> dict[str, Any]:
        moved = _ok(who("PUT", f"/visits/{visit_id}", {"status": status, **more}))
        assert moved["status"] == status, moved
        return dict(moved)

    # --- The nurse: triage vitals, an allergy, TRIAGED. ---------------------------------------------------
    triage = {"patient_id": patient_id, "visit_id": visit_id, "encounter_type": "TRIAGE", "vital_signs": VITALS}
    _refused(desk, "POST", "/patient-encounters", triage)
    _refused(pharmacist, "POST", f"/patients/{patient_id}/allergies", ALLERGY)
    encounter = _ok(nurse("POST", "/patient-encounters", triage), 201)
    vitals = encounter["vital_signs"]
    measured = (vitals["systolic"], vitals["diastolic"], vitals["temperature"], vitals["pulse"], vitals["bmi"])
    assert measured == (118, 76, 38.4, 92, 22.7)  # BMI 72 kg / 1.78² m² = 22.72
    allergy = _ok(nurse("POST", f"/patients/{patient_id}/allergies", ALLERGY), 201)
    assert (allergy["substance"], allergy["severity"], allergy["status"]) == ("Penicillin", "SEVERE", "ACTIVE")
    status, error = desk("PUT", f"/visits/{visit_id}", {"status": "IN_CONSULTATION"})  # triage first
    assert (status, error["code"], error["field"]) == (409, "illegal_transition", "status"), error
    assert "TRIAGED" in error["message"]
    _refused(pharmacist, "PUT", f"/visits/{visit_id}", {"status": "TRIAGED"})
    move(nurse, "TRIAGED")

    # --- The doctor: consultation, an ICD-10 diagnosis, prescriptions (one refused by the allergy), a lab
    # request, AWAITING_LAB. -------------------------------------------------------------------------------
    move(doctor, "IN_CONSULTATION")
    consult = {"patient_id": patient_id, "visit_id": visit_id, "encounter_type": "CONSULTATION",
               "notes": "Sore throat, tonsillar exudate, no cough", "findings": "Pharyngitis"}  # fmt: skip
    _refused(nurse, "POST", "/patient-encounters", consult)
    consultation = _ok(doctor("POST", "/patient-encounters", consult), 201)
    assert (consultation["encounter_type"], consultation["visit_id"]) == ("CONSULTATION", visit_id)
    diagnosis = {"patient_id": patient_id, "encounter_id": consultation["id"], "diagnosis_code": "j02.9"}
    _refused(desk, "POST", "/diagnoses", diagnosis)
    _refused(nurse, "POST", "/diagnoses", diagnosis)
    status, error = doctor("POST", "/diagnoses", {**diagnosis, "diagnosis_code": "J02.99"})
    assert (status, error["code"], error["field"]) == (422, "unknown_icd10_code", "diagnosis_code"), error
    diagnosed = _ok(doctor("POST", "/diagnoses", diagnosis), 201)
    assert (diagnosed["diagnosis_code"], diagnosed["diagnosis_name"], diagnosed["billable"], diagnosed["visit_id"]) == (
        "J02.9", "Acute pharyngitis, unspecified", True, visit_id)  # fmt: skip

    prescribe = {"patient_id": patient_id, "encounter_id": consultation["id"], **RX}
    amoxicillin = {**prescribe, "medication_name": "Amoxicillin"}
    paracetamol = {**prescribe, "medication_name": "Paracetamol", "quantity": 15}
    _refused(cashier, "POST", "/prescriptions", paracetamol)
    _refused(nurse, "POST", "/prescriptions", paracetamol)
    status, error = doctor("POST", "/prescriptions", amoxicillin)  # penicillin class: the recorded allergy
    assert (status, error["code"], error["field"]) == (409, "allergy_conflict", "medication_name"), error
    assert "Penicillin" in error["message"] and allergy["id"] in error["message"]
    rx = _ok(doctor("POST", "/prescriptions", paracetamol), 201)
    assert (rx["status"], rx["visit_id"], rx["quantity"], rx["overridden_allergies"]) == (
        "PRESCRIBED", visit_id, 15, [])  # fmt: skip
    mine = _ok(doctor("GET", f"/prescriptions/patient/{patient_id}"))
    assert [p["medication_name"] for p in mine["items"]] == ["Paracetamol"]  # the refused one was not stored

    order = {"patient_id": patient_id, "visit_id": visit_id, "urgency": "NORMAL", "tests": LAB_TESTS}
    _refused(nurse, "POST", "/lab-requests", order)
    _refused(lab, "POST", "/lab-requests", order)
    request = _ok(doctor("POST", "/lab-requests", order), 201)
    assert (request["status"], request["specimen_id"], request["missing"]) == ("PENDING", "L0000001", ["CBC"])
    assert move(doctor, "AWAITING_LAB")["charges_total"] == "1300.00"  # consultation + CBC

    # --- The analyzer's ORU (the agent's simulator over MLLP) completes the request by itself. --------------
    _refused(cashier, "GET", f"/lab-requests/{request['id']}")
    worklist = _ok(lab("GET", "/lab-requests?status=PENDING"))
    assert [item["id"] for item in worklist["items"]] == [request["id"]]
    message = tmp_path / "cbc.hl7"
    message.write_text(_oru(op_number, request["specimen_id"]))
    assert _simulate(running, message).count("MSA|AA|") == 1

    def completed() -> dict[str, Any] | None:
        status, body = lab("GET", f"/lab-requests/{request['id']}")
        return body if status == 200 and body["status"] == "COMPLETED" else None

    done = _eventually(completed, seconds=60)
    assert done, "the lab request was not completed within 60 s\n" + running.logs()
    assert done["missing"] == [] and done["completed_by"]
    assert [(r["code"], r["value"], r["unit"], r["flag"]) for r in done["results"]] == [
        ("HGB", "13.1", "g/dL", "N"), ("WBC", "12.4", "10*3/uL", "H")]  # fmt: skip
    lab_events = [e for e in _events(doctor) if e["subject"].get("lab_request_id") == request["id"]]
    assert sorted(e["type"] for e in lab_events) == ["lab.requested", "lab.results_ready"]  # H is not critical
    [ready] = [e for e in lab_events if e["type"] == "lab.results_ready"]
    assert (ready["subject"]["specimen_id"], ready["subject"]["status"]) == ("L0000001", "COMPLETED")

    # --- The doctor sends the patient to the pharmacy; the pharmacist dispenses (a charge on the bill). -----
    move(doctor, "AWAITING_PHARMACY")
    queue = _ok(pharmacist("GET", "/prescriptions?status=PRESCRIBED"))
    assert [p["id"] for p in queue["items"]] == [rx["id"]]
    dispense = {"status": "DISPENSED", "dispensing_notes": "Counselled on dosing"}
    _refused(nurse, "PUT", f"/prescriptions/{rx['id']}", dispense)
    _refused(doctor, "PUT", f"/prescriptions/{rx['id']}", dispense)
    dispensed = _ok(pharmacist("PUT", f"/prescriptions/{rx['id']}", dispense))
    assert (dispensed["status"], dispensed["quantity_dispensed"], dispensed["dispensed_by"]) == (
        "DISPENSED", 15, f"user:{hired['pharmacist'][1]}")  # fmt: skip
    status, error = pharmacist("PUT", f"/prescriptions/{rx['id']}", dispense)
    assert (status, error["code"]) == (409, "illegal_transition"), error
    _refused(pharmacist, "PUT", f"/visits/{visit_id}", {"status": "AWAITING_PAYMENT"})  # pharmacists do not move visits
    awaiting = move(cashier, "AWAITING_PAYMENT")  # the patient reaches the cashier's desk
    assert (awaiting["charges_total"], awaiting["balance"]) == ("1450.00", "1450.00")  # + 15 x Paracetamol 10.00

    # --- The cashier reads the bill and pays the exact balance. --------------------------------------------
    _refused(doctor, "GET", f"/visits/{visit_id}/bill")
    bill = _ok(cashier("GET", f"/visits/{visit_id}/bill"))
    lines = [(c["kind"], c["code"], c["quantity"], c["unit_price"], c["amount"], c["priced"]) for c in bill["charges"]]
    assert lines == [
        ("CONSULTATION", "CONSULTATION", 1, "500.00", "500.00", True),
        ("LAB_TEST", "CBC", 1, "800.00", "800.00", True),
        ("MEDICATION", "PARACETAMOL", 15, "10.00", "150.00", True)]  # fmt: skip
    assert (bill["currency"], bill["visit_status"], bill["charges_total"], bill["paid_total"], bill["balance"],
            bill["payment_status"], bill["payments"], bill["complete"]) == (
        "KES", "AWAITING_PAYMENT", "1450.00", "0.00", "1450.00", "UNPAID", [], True)  # fmt: skip
    payment = {"visit_id": visit_id, "amount": bill["balance"], "payment_type": "MOBILE_MONEY",
               "reference": "QKT4XY7Z1M"}  # fmt: skip
    _refused(pharmacist, "POST", "/payments", payment)
    _refused(doctor, "POST", "/payments", payment)
    for number in (1450, 1450.0):
        status, error = cashier("POST", "/payments", {**payment, "amount": number})
        assert (status, error["code"], error["field"]) == (422, "invalid_request", "amount"), error
    status, error = cashier("POST", "/payments", {**payment, "amount": "1450.001"})
    assert (status, error["code"], error["field"]) == (422, "invalid_amount", "amount"), error
    receipt = _ok(cashier("POST", "/payments", payment), 201)
    assert (receipt["amount"], receipt["payment_type"], receipt["reference"]) == ("1450.00", "MOBILE_MONEY",
                                                                                  "QKT4XY7Z1M")  # fmt: skip
    assert (receipt["visit"]["paid_total"], receipt["visit"]["balance"], receipt["visit"]["payment_status"]) == (
        "1450.00", "0.00", "PAID")  # fmt: skip
    bill = _ok(cashier("GET", f"/visits/{visit_id}/bill"))
    assert (bill["paid_total"], bill["balance"], bill["payment_status"]) == ("1450.00", "0.00", "PAID")
    assert [(p["id"], p["amount"]) for p in bill["payments"]] == [(receipt["id"], "1450.00")]

    # --- The doctor discharges with a follow-up that holds the doctor's 10:00 slot. -------------------------
    follow_up_day = (date.fromisoformat(day) + timedelta(days=14)).isoformat()
    discharge = {"status": "COMPLETED", "discharge_notes": "Pharyngitis; paracetamol for 5 days, fluids, rest",
                 "follow_up": {"date": follow_up_day, "time": "10:00", "notes": "Review throat and CBC"}}  # fmt: skip
    _refused(pharmacist, "PUT", f"/visits/{visit_id}", discharge)
    _refused(lab, "PUT", f"/visits/{visit_id}", discharge)
    discharged = move(doctor, "COMPLETED", **{k: v for k, v in discharge.items() if k != "status"})
    assert discharged["discharge_notes"] == discharge["discharge_notes"] and discharged["completed_at"]
    assert discharged["follow_up_appointment_id"] and discharged["balance"] == "0.00"
    status, error = doctor("PUT", f"/visits/{visit_id}", {"status": "IN_CONSULTATION"})
    assert (status, error["code"]) == (409, "illegal_transition"), error

    _refused(pharmacist, "GET", f"/appointments?date={follow_up_day}")
    book = _ok(desk("GET", f"/appointments?date={follow_up_day}&provider={doctor_id}"))
    assert [(a["id"], a["patient_id"], a["provider_id"], a["date"], a["time"], a["duration_minutes"], a["status"],
             a["visit_id"], a["reason"]) for a in book["items"]] == [
        (discharged["follow_up_appointment_id"], patient_id, doctor_id, follow_up_day, "10:00", 30, "SCHEDULED",
         visit_id, "Review throat and CBC")]  # fmt: skip
    again = {"patient_id": patient_id, "provider_id": doctor_id, "date": follow_up_day, "time": "10:00"}
    _refused(cashier, "POST", "/appointments", again)
    for time in ("10:00", "10:15"):  # the follow-up holds 10:00-10:30
        status, error = desk("POST", "/appointments", {**again, "time": time})
        assert (status, error["code"]) == (409, "slot_taken"), (time, error)
    assert _ok(desk("POST", "/appointments", {**again, "time": "10:30"}), 201)["status"] == "SCHEDULED"

    queue = _ok(desk("GET", f"/visits?date={day}"))
    assert [(v["id"], v["status"], v["payment_status"]) for v in queue["items"]] == [(visit_id, "COMPLETED", "PAID")]
    kinds = [e["type"] for e in _events(admin) if e["subject"].get("visit_id") == visit_id]
    for kind in ("visit.opened", "visit.discharged", "payment.completed", "prescription.dispensed", "lab.requested"):
        assert kind in kinds, (kind, kinds)
    assert kinds.count("visit.status_changed") == 7  # REGISTERED, TRIAGED, ... COMPLETED

    # --- A second clinic of the organisation sees none of it. ---------------------------------------------
    clinic = _ok(admin("POST", "/clinics", {"name": "Kisumu Outpatients", "timezone": "Africa/Nairobi",
                                            "currency": "KES"}), 201)  # fmt: skip
    other, _ = _hire(admin, "admin", clinic["id"])
    for path in (f"/visits/{visit_id}", f"/visits/{visit_id}/bill", f"/prescriptions/{rx['id']}",
                 f"/lab-requests/{request['id']}", f"/patients/{patient_id}",
                 f"/appointments/{discharged['follow_up_appointment_id']}/cancel"):  # fmt: skip
        method = "POST" if path.endswith("/cancel") else "GET"
        status, error = other(method, path)
        assert (status, error["code"]) == (404, "not_found"), (path, error)
    status, error = other("POST", "/payments", {**payment, "amount": "1.00"})
    assert (status, error["code"], error["field"]) == (404, "not_found", "visit_id"), error
    assert _ok(other("GET", f"/visits?date={day}"))["items"] == []
    assert _ok(other("GET", "/prescriptions?status=DISPENSED"))["items"] == []
    assert _ok(other("GET", "/lab-requests?status=COMPLETED"))["items"] == []
    assert _ok(other("GET", f"/appointments?date={follow_up_day}"))["items"] == []
    assert _ok(other("GET", "/prices"))["items"] == []
    assert all(e["clinic_id"] == clinic["id"] for e in _events(other))
