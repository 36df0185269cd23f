"""Lab requests over the API: ordering under a visit of the patient (each test a LAB_TEST charge on its bill) with
specimen ids, the worklist, manual results, the HL7 order."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import events as events_repo
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from edge_agent.adapters.base import ParseContext
from edge_agent.adapters.hl7 import Hl7Adapter
from tests.cloud.api.journey_helpers import open_visit, register, send, set_price
from tests.cloud.api.staff_helpers import call
from tests.cloud.builders import bearer
from tests.cloud.dynamo_calls import recorded, tables_written

CLINIC, OTHER = "clinic-lab", "clinic-elsewhere"
TESTS = [{"code": "HGB", "name": "Haemoglobin"}, {"code": "WBC", "name": "White blood cells"}]


def _token(role: Role, clinic: str = CLINIC) -> str:
    return bearer(clinic, role)["Authorization"].removeprefix("Bearer ")


@pytest.fixture(scope="module")
def world(module_cloud: ResourceNames) -> dict[str, Any]:
    from app import app

    api = Client(app)
    tokens = {role: _token(role) for role in (Role.RECEPTIONIST, Role.DOCTOR, Role.LAB_TECHNICIAN, Role.NURSE)}
    tokens["other_doctor"] = _token(Role.DOCTOR, OTHER)
    tokens["other_lab"] = _token(Role.LAB_TECHNICIAN, OTHER)
    return {"api": api, "tokens": tokens}


def _patient(world: dict[str, Any], first: str = "Amani") -> dict[str, Any]:
    body = {"first_name": first, "last_name": "Okello", "sex": "FEMALE", "date_of_birth": "1990-04-02",
            "phone": "+254712345678", "insurance_type": "CASH", "force": True}  # fmt: skip
    status, patient = call(world["api"], "POST", "/patients", body, world["tokens"][Role.RECEPTIONIST])
    assert status == 201, patient
    return dict(patient)


def _visit(world: dict[str, Any], patient_id: str, clinic: str = CLINIC) -> str:
    """A visit opened for the patient (POST /visits)."""
    return str(open_visit(world["api"], patient_id, clinic=clinic)["id"])


def _order(world: dict[str, Any], patient_id: str, visit_id: str, tests: list[dict[str, str]] = TESTS,
           **extra: Any) -> Any:  # fmt: skip
    body = {"patient_id": patient_id, "visit_id": visit_id, "tests": tests, "urgency": "URGENT", **extra}
    return call(world["api"], "POST", "/lab-requests", body, world["tokens"][Role.DOCTOR])


def test_a_request_is_pending_with_a_short_printable_specimen_id(world: dict[str, Any]) -> None:
    patient = _patient(world)
    visit_id = _visit(world, patient["id"])
    status, created = _order(world, patient["id"], visit_id, notes="fasting")
    assert status == 201, created
    assert created["status"] == "PENDING"
    assert re.fullmatch(r"L\d{7}", created["specimen_id"])
    assert created["tests"] == TESTS and created["missing"] == ["HGB", "WBC"] and created["results"] == []
    assert (created["patient_id"], created["visit_id"], created["urgency"], created["notes"]) == (
        patient["id"], visit_id, "URGENT", "fasting")  # fmt: skip

    status, read = call(
        world["api"], "GET", f"/lab-requests/{created['id']}", token=world["tokens"][Role.LAB_TECHNICIAN]
    )
    assert status == 200 and read["specimen_id"] == created["specimen_id"] and read["status"] == "PENDING"
    status, listed = call(world["api"], "GET", f"/patients/{patient['id']}/lab-requests",
                          token=world["tokens"][Role.NURSE])  # fmt: skip
    assert status == 200 and [item["id"] for item in listed["items"]] == [created["id"]]
    kinds = [e.type for e in events_repo.after(CLINIC, None, limit=200, next_token=None).items]
    assert "lab.requested" in kinds


def test_the_worklist_lists_one_status_oldest_first(world: dict[str, Any]) -> None:
    patient = _patient(world, "Chebet")
    visit_id = _visit(world, patient["id"])
    first = _order(world, patient["id"], visit_id)[1]
    second = _order(world, patient["id"], visit_id)[1]
    status, page = call(world["api"], "GET", "/lab-requests?status=PENDING&limit=200",
                        token=world["tokens"][Role.LAB_TECHNICIAN])  # fmt: skip
    assert status == 200, page
    ids = [item["id"] for item in page["items"]]
    assert ids.index(first["id"]) < ids.index(second["id"])
    assert all(item["status"] == "PENDING" for item in page["items"])
    status, page = call(world["api"], "GET", "/lab-requests?status=DONE", token=world["tokens"][Role.LAB_TECHNICIAN])
    assert status == 422 and page["field"] == "status"


def test_manual_results_go_partial_then_completed_and_are_not_reopened(world: dict[str, Any]) -> None:
    patient = _patient(world, "Dalia")
    visit_id = _visit(world, patient["id"])
    created = _order(world, patient["id"], visit_id)[1]
    path, tech = f"/lab-requests/{created['id']}", world["tokens"][Role.LAB_TECHNICIAN]

    status, partial = call(world["api"], "PUT", path, {"results": [{"code": "hgb", "value": "14.2", "unit": "g/dL",
                                                                   "reference_range": "12-16"}]}, tech)  # fmt: skip
    assert status == 200, partial
    assert partial["status"] == "PARTIAL" and partial["missing"] == ["WBC"]
    assert partial["results"][0]["value"] == "14.2" and partial["results"][0]["source"] == "manual"

    status, done = call(world["api"], "PUT", path, {"results": [{"code": "WBC", "value": "31.5", "unit": "10*3/uL",
                                                                "flag": "HH"}]}, tech)  # fmt: skip
    assert status == 200, done
    assert done["status"] == "COMPLETED" and done["missing"] == [] and done["completed_at"]
    assert {(r["code"], r["value"], r.get("unit")) for r in done["results"]} == {
        ("hgb", "14.2", "g/dL"), ("WBC", "31.5", "10*3/uL"),
    }  # fmt: skip
    [wbc] = [r for r in done["results"] if r["code"] == "WBC"]
    assert wbc["critical"] is True

    status, error = call(world["api"], "PUT", path, {"results": [{"code": "WBC", "value": "9.0"}]}, tech)
    assert status == 409 and error["code"] == "lab_request_closed"
    events = [e for e in events_repo.after(CLINIC, None, limit=500, next_token=None).items
              if e.subject.get("lab_request_id") == created["id"]]  # fmt: skip
    assert [e.type for e in events].count("lab.results_ready") == 2
    [critical] = [e for e in events if e.type == "lab.critical"]
    assert critical.subject["codes"] == "WBC"


def test_results_are_only_for_ordered_tests_and_completion_needs_them_all(world: dict[str, Any]) -> None:
    patient = _patient(world, "Esther")
    visit_id = _visit(world, patient["id"])
    created = _order(world, patient["id"], visit_id)[1]
    path, tech = f"/lab-requests/{created['id']}", world["tokens"][Role.LAB_TECHNICIAN]
    status, error = call(world["api"], "PUT", path, {"results": [{"code": "ALT", "value": "30"}]}, tech)
    assert status == 422 and (error["code"], error["field"]) == ("test_not_ordered", "results.0.code")
    status, error = call(world["api"], "PUT", path, {"results": [{"code": "HGB", "value": "14"}],
                                                     "status": "COMPLETED"}, tech)  # fmt: skip
    assert status == 422 and error["code"] == "results_missing" and "WBC" in error["message"]
    status, error = call(world["api"], "PUT", path, {"results": [{"code": "HGB", "value": 14.2}]}, tech)
    assert status == 422 and error["field"] == "results.0.value"
    status, unchanged = call(world["api"], "GET", path, token=tech)
    assert unchanged["status"] == "PENDING" and unchanged["results"] == [] and unchanged["version"] == 1


def test_a_request_without_results_can_be_cancelled(world: dict[str, Any]) -> None:
    patient = _patient(world, "Faith")
    visit_id = _visit(world, patient["id"])
    created = _order(world, patient["id"], visit_id)[1]
    path, tech = f"/lab-requests/{created['id']}", world["tokens"][Role.LAB_TECHNICIAN]
    status, cancelled = call(world["api"], "PUT", path, {"status": "CANCELLED"}, tech)
    assert status == 200 and cancelled["status"] == "CANCELLED"
    status, error = call(world["api"], "PUT", path, {"results": [{"code": "HGB", "value": "14"}]}, tech)
    assert status == 409 and error["code"] == "lab_request_closed"


def test_bad_orders_are_refused_precisely(world: dict[str, Any]) -> None:
    patient = _patient(world, "Grace")
    visit_id = _visit(world, patient["id"])
    status, error = _order(world, "no-such-patient", visit_id)
    assert status == 404 and error["field"] == "patient_id"
    status, error = _order(world, patient["id"], visit_id, tests=[])
    assert status == 422 and error["field"] == "tests"
    status, error = _order(world, patient["id"], visit_id, tests=[{"code": "HGB|X", "name": "pipe"}])
    assert status == 422 and error["field"] == "tests.0.code"
    status, error = _order(world, patient["id"], visit_id, tests=[TESTS[0], {"code": "hgb", "name": "again"}])
    assert status == 422 and (error["code"], error["field"]) == ("duplicate_test", "tests.1.code")
    status, error = _order(world, patient["id"], visit_id, urgency="SOON")
    assert status == 422 and error["field"] == "urgency"


def test_a_request_names_a_visit_of_that_patient_in_the_callers_clinic_else_nothing_is_written(
    world: dict[str, Any],
) -> None:
    patient, someone_else = _patient(world, "Jabali"), _patient(world, "Kesi")
    theirs = _visit(world, someone_else["id"])
    elsewhere = _visit(world, register(world["api"], clinic=OTHER), clinic=OTHER)

    for visit_id, expected in ((theirs, (422, "visit_patient_mismatch")), ("no-such-visit", (404, "not_found")),
                               (elsewhere, (404, "not_found"))):  # fmt: skip
        with recorded() as calls:
            status, error = _order(world, patient["id"], visit_id)
        assert (status, error["code"], error["field"]) == (*expected, "visit_id"), error
        assert tables_written(calls) == set()
    for owner in (patient, someone_else):
        status, listed = call(world["api"], "GET", f"/patients/{owner['id']}/lab-requests",
                              token=world["tokens"][Role.NURSE])  # fmt: skip
        assert (status, listed["items"]) == (200, [])
    status, bill = send(world["api"], "GET", f"/visits/{theirs}/bill", role=Role.ACCOUNTANT, clinic=CLINIC)
    assert status == 200 and [line["kind"] for line in bill["charges"]] == ["CONSULTATION"]


def test_each_ordered_test_adds_a_lab_test_charge_to_the_visits_bill(world: dict[str, Any]) -> None:
    set_price(world["api"], "LAB_TEST", "HGB", "250.00", clinic=CLINIC)
    patient = _patient(world, "Lulu")
    visit_id = _visit(world, patient["id"])

    status, created = _order(world, patient["id"], visit_id)
    assert status == 201, created

    status, bill = send(world["api"], "GET", f"/visits/{visit_id}/bill", role=Role.ACCOUNTANT, clinic=CLINIC)
    assert status == 200, bill
    lines = sorted((line["code"], line["description"], line["quantity"], line["unit_price"], line["amount"],
                    line["priced"]) for line in bill["charges"] if line["kind"] == "LAB_TEST")  # fmt: skip
    # HGB at the clinic's price; WBC has none (nor a LAB_TEST DEFAULT): 0.00, marked unpriced.
    assert lines == [("HGB", "Haemoglobin", 1, "250.00", "250.00", True),
                     ("WBC", "White blood cells", 1, "0.00", "0.00", False)]  # fmt: skip
    assert (bill["charges_total"], bill["balance"]) == ("250.00", "250.00")  # the consultation is unpriced here
    status, visit = send(world["api"], "GET", f"/visits/{visit_id}", clinic=CLINIC)
    assert (status, visit["charges_total"]) == (200, "250.00")


def test_another_clinic_sees_nothing(world: dict[str, Any]) -> None:
    patient = _patient(world, "Halima")
    visit_id = _visit(world, patient["id"])
    created = _order(world, patient["id"], visit_id)[1]
    for path in (f"/lab-requests/{created['id']}", f"/lab-requests/{created['id']}/order",
                 f"/patients/{patient['id']}/lab-requests"):  # fmt: skip
        status, error = call(world["api"], "GET", path, token=world["tokens"]["other_lab"])
        assert status == 404 and error["code"] == "not_found", path
    status, _ = call(world["api"], "PUT", f"/lab-requests/{created['id']}",
                     {"results": [{"code": "HGB", "value": "1"}]}, world["tokens"]["other_lab"])  # fmt: skip
    assert status == 404
    status, page = call(world["api"], "GET", "/lab-requests", token=world["tokens"]["other_lab"])
    assert status == 200 and created["id"] not in str(page)
    status, _ = call(
        world["api"], "POST", "/lab-requests",
        {"patient_id": patient["id"], "visit_id": visit_id, "tests": TESTS}, world["tokens"]["other_doctor"],
    )  # fmt: skip
    assert status == 404


def test_the_order_is_hl7_that_the_agent_reads_back(world: dict[str, Any]) -> None:
    patient = _patient(world, "Imani")
    visit_id = _visit(world, patient["id"])
    tests = [{"code": "GLU", "name": "Glucose ^fasting & random"}, {"code": "HBA1C", "name": "HbA1c"}]
    created = _order(world, patient["id"], visit_id, tests=tests)[1]
    status, order = call(world["api"], "GET", f"/lab-requests/{created['id']}/order",
                         token=world["tokens"][Role.LAB_TECHNICIAN])  # fmt: skip
    assert status == 200, order
    assert order["message_type"] == "OML^O21^OML_O21" and order["specimen_id"] == created["specimen_id"]
    text: str = order["message"]
    assert text.startswith("MSH|^~\\&|MEDFLOW|") and "\rTQ1|1||||||||A\r" in text

    [parsed] = Hl7Adapter().parse(text.encode(), ParseContext(name="order.hl7", now=datetime.now(UTC)))
    assert parsed.kind == "order"
    assert parsed.patient.id == patient["id"]
    assert parsed.context["message_type"] == "OML^O21"
    assert parsed.context["placer_order_ids"] == created["specimen_id"]
    assert parsed.context["filler_order_ids"] == created["specimen_id"]
    assert parsed.context["tests"] == "GLU^Glucose ^fasting & random,HBA1C^HbA1c"
