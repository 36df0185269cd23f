"""Allergies (GET, POST, DELETE /patients/{patient_id}/allergies), prescriptions with the allergy check and its
audited override, the pharmacy queue, dispensing moves (legal only) with the MEDICATION charge each dispensing adds
to the visit's bill, and another clinic's ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.db import audit as audit_repo
from chalicelib.db import events as events_repo
from chalicelib.resources import ResourceNames
from chalicelib.services import drug_classes
from chalicelib.services.roles import Role
from tests.cloud.api.clinical_helpers import CLINIC, OTHER, call, encounter, patient, visit
from tests.cloud.api.journey_helpers import set_price
from tests.cloud.dynamo_calls import recorded


@pytest.fixture(scope="module")
def api(module_cloud: ResourceNames) -> Iterator[Client]:
    with Client(app) as client:
        yield client


def allergy(api: Client, patient_id: str, substance: str, severity: str = "SEVERE") -> str:
    body = {"substance": substance, "reaction": "Urticaria", "severity": severity}
    status, body = call(api, "POST", f"/patients/{patient_id}/allergies", body, role=Role.NURSE)
    assert status == 201, body
    return str(body["id"])


def rx(patient_id: str, encounter_id: str, medication: str = "Paracetamol", **extra: Any) -> dict[str, Any]:
    return {"patient_id": patient_id, "encounter_id": encounter_id, "medication_name": medication, "dosage": "500mg",
            "frequency": "3 times daily", "duration": "5 days", "instructions": "Take with food", **extra}  # fmt: skip


def prescribe(api: Client, patient_id: str, medication: str = "Paracetamol", *, clinic: str = CLINIC,
              **extra: Any) -> dict[str, Any]:  # fmt: skip
    body = rx(patient_id, encounter(api, patient_id, clinic), medication, **extra)
    status, body = call(api, "POST", "/prescriptions", body, clinic=clinic)
    assert status == 201, body
    return dict(body)


def prescriptions_of(api: Client, patient_id: str) -> list[dict[str, Any]]:
    status, body = call(api, "GET", f"/prescriptions/patient/{patient_id}", role=Role.PHARMACIST)
    assert status == 200, body
    return list(body["items"])


def audit_actions() -> list[tuple[str, str | None, dict[str, str]]]:
    return [(e.action, e.resource_id, e.target) for e in audit_repo.list_day(CLINIC, datetime.now(UTC), limit=1000)]


# --- allergies -------------------------------------------------------------------------------------------


def test_allergies_are_recorded_listed_and_removed(api: Client) -> None:
    patient_id = patient(api)
    penicillin, latex = allergy(api, patient_id, "Penicillin"), allergy(api, patient_id, "Latex", "MILD")

    status, body = call(api, "GET", f"/patients/{patient_id}/allergies", role=Role.PHARMACIST)
    assert status == 200
    assert sorted((a["id"], a["substance"], a["severity"]) for a in body["items"]) == sorted(
        [(penicillin, "Penicillin", "SEVERE"), (latex, "Latex", "MILD")])  # fmt: skip

    assert call(api, "DELETE", f"/patients/{patient_id}/allergies/{latex}", role=Role.NURSE) == (
        200, {"status": "removed"})  # fmt: skip
    assert call(api, "DELETE", f"/patients/{patient_id}/allergies/{latex}", role=Role.NURSE)[0] == 404
    assert [a["id"] for a in call(api, "GET", f"/patients/{patient_id}/allergies")[1]["items"]] == [penicillin]
    assert ("allergy.removed", latex, {"patient_id": patient_id}) in audit_actions()


def test_allergy_input_and_other_clinics(api: Client) -> None:
    patient_id = patient(api)
    penicillin = allergy(api, patient_id, "Penicillin")

    status, body = call(api, "POST", f"/patients/{patient_id}/allergies", {"substance": "Latex", "severity": "BAD"})
    assert (status, body["field"]) == (422, "severity")
    assert call(api, "POST", f"/patients/{patient_id}/allergies", {"substance": "X", "severity": "MILD"},
                clinic=OTHER)[0] == 404  # fmt: skip
    assert call(api, "GET", f"/patients/{patient_id}/allergies", clinic=OTHER)[0] == 404
    assert call(api, "DELETE", f"/patients/{patient_id}/allergies/{penicillin}", clinic=OTHER)[0] == 404
    assert call(api, "DELETE", f"/patients/{patient(api)}/allergies/{penicillin}")[0] == 404  # another patient's
    assert call(api, "DELETE", f"/patients/{patient_id}/allergies/{penicillin}", role=Role.PHARMACIST)[0] == 403
    assert len(call(api, "GET", f"/patients/{patient_id}/allergies")[1]["items"]) == 1


# --- the allergy check -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("substance", "medication"), [
    ("Penicillin", "Amoxicillin 500mg caps"),  # class table
    ("penicillin", "Co-Amoxiclav"),
    ("AMOXICILLIN", "amoxicillin"),  # same name, any case
    ("Sulfaméthoxazole", "Sulfamethoxazole/Trimethoprim"),  # accents
    ("Sulfa drugs", "Septrin"),
    ("NSAIDs", "Diclofenac"),
    ("Ibuprofen", "Aspirin 75mg"),  # both NSAIDs
])  # fmt: skip
def test_a_matching_allergy_blocks_the_prescription(api: Client, substance: str, medication: str) -> None:
    patient_id = patient(api)
    allergy_id = allergy(api, patient_id, substance)

    status, body = call(api, "POST", "/prescriptions", rx(patient_id, encounter(api, patient_id), medication))

    assert (status, body["code"], body["field"]) == (409, "allergy_conflict", "medication_name"), body
    assert substance in body["message"] and allergy_id in body["message"]
    assert prescriptions_of(api, patient_id) == []


@pytest.mark.parametrize(("substance", "medication"), [
    ("Penicillin", "Cefalexin"), ("Sulfa", "Paracetamol"), ("Latex", "Ibuprofen"), ("Aspirin", "Paracetamol"),
])  # fmt: skip
def test_an_unrelated_allergy_does_not_block(api: Client, substance: str, medication: str) -> None:
    patient_id = patient(api)
    allergy(api, patient_id, substance)

    assert prescribe(api, patient_id, medication)["status"] == "PRESCRIBED"
    assert drug_classes.conflicts(medication, substance) is None


def test_an_override_with_a_reason_prescribes_and_is_audited(api: Client) -> None:
    patient_id = patient(api)
    allergy_id = allergy(api, patient_id, "Penicillin")
    removed = allergy(api, patient_id, "Amoxicillin")
    call(api, "DELETE", f"/patients/{patient_id}/allergies/{removed}", role=Role.NURSE)

    body = prescribe(api, patient_id, "Amoxicillin", allergy_override_reason="Tolerated amoxicillin in 2025",
                     quantity=15)  # fmt: skip

    assert (body["status"], body["allergy_override_reason"], body["overridden_allergies"]) == (
        "PRESCRIBED", "Tolerated amoxicillin in 2025", [allergy_id])  # fmt: skip
    entries = [entry for entry in audit_actions() if entry[1] == body["id"]]
    assert (
        "prescription.allergy_override",
        body["id"],
        {"patient_id": patient_id, "allergy_ids": allergy_id},
    ) in entries
    assert "prescription.prescribed" in [action for action, _, _ in entries]
    assert all("Tolerated" not in str(target) for _, _, target in entries)  # the free text stays out of the audit
    # Without a conflict, a reason given anyway is not stored.
    plain = prescribe(api, patient_id, "Paracetamol", allergy_override_reason="not needed")
    assert (plain["allergy_override_reason"], plain["overridden_allergies"]) == (None, [])


# --- prescribing, the queue, dispensing ------------------------------------------------------------------


def test_prescribing_answers_prescribed_and_announces_it(api: Client) -> None:
    patient_id = patient(api)
    visit_id = visit(api, patient_id)
    encounter_id = encounter(api, patient_id, visit_id=visit_id)

    status, body = call(api, "POST", "/prescriptions", rx(patient_id, encounter_id, route="ORAL", quantity=15))

    assert status == 201, body
    assert (body["status"], body["medication_name"], body["quantity"], body["visit_id"]) == (
        "PRESCRIBED", "Paracetamol", 15, visit_id)  # fmt: skip
    assert call(api, "GET", f"/prescriptions/{body['id']}", role=Role.PHARMACIST) == (200, body)
    assert prescriptions_of(api, patient_id) == [body]
    events = events_repo.after(CLINIC, None, limit=500, next_token=None).items
    assert ("prescription.ready", body["id"]) in [(e.type, e.subject.get("prescription_id")) for e in events]
    # The route's permission: nurses and pharmacists do not prescribe.
    assert call(api, "POST", "/prescriptions", rx(patient_id, encounter_id), role=Role.NURSE)[0] == 403
    assert call(api, "POST", "/prescriptions", rx(patient_id, encounter_id), role=Role.PHARMACIST)[0] == 403


def test_the_pharmacy_queue_lists_the_clinics_prescribed_items_oldest_first(api: Client) -> None:
    ids = [prescribe(api, patient(api))["id"] for _ in range(3)]

    queue = call(api, "GET", "/prescriptions?status=PRESCRIBED&limit=200", role=Role.PHARMACIST)[1]["items"]
    assert [item["id"] for item in queue if item["id"] in ids] == ids
    call(api, "PUT", f"/prescriptions/{ids[0]}", {"status": "DISPENSED"}, role=Role.PHARMACIST)

    queue = call(api, "GET", "/prescriptions?limit=200", role=Role.PHARMACIST)[1]["items"]
    assert [item["id"] for item in queue if item["id"] in ids] == ids[1:]
    done = call(api, "GET", "/prescriptions?status=DISPENSED&limit=200", role=Role.PHARMACIST)[1]["items"]
    assert ids[0] in [item["id"] for item in done]
    assert call(api, "GET", "/prescriptions?limit=200", clinic=OTHER)[1]["items"] == []
    assert call(api, "GET", "/prescriptions?status=GIVEN")[0] == 422


def test_dispensing_moves_only_along_the_legal_transitions(api: Client) -> None:
    patient_id = patient(api)
    first = prescribe(api, patient_id, quantity=15)["id"]

    status, body = call(api, "PUT", f"/prescriptions/{first}", {"status": "PARTIALLY_DISPENSED"},
                        role=Role.PHARMACIST)  # fmt: skip
    assert (status, body["field"]) == (422, "quantity_dispensed")
    status, body = call(api, "PUT", f"/prescriptions/{first}", {"status": "PARTIALLY_DISPENSED",
                        "quantity_dispensed": 16}, role=Role.PHARMACIST)  # fmt: skip
    assert (status, body["field"]) == (422, "quantity_dispensed")
    status, body = call(api, "PUT", f"/prescriptions/{first}", {"status": "PARTIALLY_DISPENSED",
                        "quantity_dispensed": 5, "dispensing_notes": "Stock short"}, role=Role.PHARMACIST)  # fmt: skip
    assert (status, body["status"], body["quantity_dispensed"], body["dispensed_by"]) == (
        200, "PARTIALLY_DISPENSED", 5, "user:u-pharmacist")  # fmt: skip
    status, body = call(api, "PUT", f"/prescriptions/{first}", {"status": "DISPENSED"}, role=Role.PHARMACIST)
    assert (status, body["status"], body["quantity_dispensed"], body["dispensing_notes"]) == (
        200, "DISPENSED", 15, "Stock short")  # fmt: skip
    for status_name in ("DISPENSED", "PARTIALLY_DISPENSED", "CANCELLED"):
        status, body = call(api, "PUT", f"/prescriptions/{first}", {"status": status_name}, role=Role.PHARMACIST)
        assert (status, body["code"], body["field"]) == (409, "illegal_transition", "status")
        assert "allowed: none" in body["message"]

    second = prescribe(api, patient_id)["id"]
    status, body = call(api, "PUT", f"/prescriptions/{second}", {"status": "CANCELLED"}, role=Role.PHARMACIST)
    assert (status, body["status"], body["quantity_dispensed"]) == (200, "CANCELLED", None)
    status, body = call(api, "PUT", f"/prescriptions/{second}", {"status": "DISPENSED"}, role=Role.PHARMACIST)
    assert (status, body["code"]) == (409, "illegal_transition")
    status, body = call(api, "PUT", f"/prescriptions/{second}", {"status": "PRESCRIBED"}, role=Role.PHARMACIST)
    assert (status, body["field"]) == (422, "status")

    events = [(e.type, e.subject.get("prescription_id"), e.subject.get("status"))
              for e in events_repo.after(CLINIC, None, limit=1000, next_token=None).items]  # fmt: skip
    assert [e for e in events if e[1] == first] == [
        ("prescription.ready", first, None),
        ("prescription.dispensed", first, "PARTIALLY_DISPENSED"),
        ("prescription.dispensed", first, "DISPENSED"),
    ]
    assert ("prescription.cancelled", second, "CANCELLED") in events


BILLED = "clinic-south"  # the dispensing-charge tests' clinic: its price list is theirs alone


def dispense(api: Client, prescription_id: str, status: str, **fields: Any) -> dict[str, Any]:
    code, answer = call(api, "PUT", f"/prescriptions/{prescription_id}", {"status": status, **fields},
                        role=Role.PHARMACIST, clinic=BILLED)  # fmt: skip
    assert code == 200, answer
    return dict(answer)


def bill(api: Client, visit_id: str) -> dict[str, Any]:
    status, body = call(api, "GET", f"/visits/{visit_id}/bill", role=Role.CASHIER, clinic=BILLED)
    assert status == 200, body
    return dict(body)


def medication_lines(bill: dict[str, Any]) -> list[tuple[str, str, int, str, str, bool]]:
    return [(line["code"], line["description"], line["quantity"], line["unit_price"], line["amount"], line["priced"])
            for line in bill["charges"] if line["kind"] == "MEDICATION"]  # fmt: skip


def test_each_dispensing_charges_what_it_hands_over_at_the_clinics_price(api: Client) -> None:
    set_price(api, "MEDICATION", "PARACETAMOL", "5.00", clinic=BILLED)
    prescription = prescribe(api, patient(api, clinic=BILLED), "Paracetamol", quantity=15, clinic=BILLED)
    visit_id = prescription["visit_id"]
    assert medication_lines(bill(api, visit_id)) == []  # prescribing charges nothing

    dispense(api, prescription["id"], "PARTIALLY_DISPENSED", quantity_dispensed=5)
    assert dispense(api, prescription["id"], "DISPENSED")["quantity_dispensed"] == 15

    answer = bill(api, visit_id)
    assert medication_lines(answer) == [
        ("PARACETAMOL", "Paracetamol", 5, "5.00", "25.00", True),
        ("PARACETAMOL", "Paracetamol", 10, "5.00", "50.00", True),
    ]
    # The consultation is unpriced in this clinic: the bill is the medication alone.
    assert (answer["charges_total"], answer["balance"], answer["payment_status"]) == ("75.00", "75.00", "UNPAID")
    status, opened = call(api, "GET", f"/visits/{visit_id}", clinic=BILLED)
    assert (status, opened["charges_total"]) == (200, "75.00")


def test_an_unpriced_medication_is_charged_unpriced_and_a_cancellation_charges_nothing(api: Client) -> None:
    patient_id = patient(api, clinic=BILLED)
    dispensed = prescribe(api, patient_id, "Cetirizine 10 mg", quantity=7, clinic=BILLED)
    cancelled = prescribe(api, patient_id, "Paracetamol", quantity=3, clinic=BILLED)
    assert dispensed["visit_id"] == cancelled["visit_id"]

    dispense(api, dispensed["id"], "DISPENSED")
    dispense(api, cancelled["id"], "CANCELLED")

    answer = bill(api, dispensed["visit_id"])
    assert medication_lines(answer) == [("CETIRIZINE_10_MG", "Cetirizine 10 mg", 7, "0.00", "0.00", False)]
    assert answer["charges_total"] == "0.00"


def test_only_the_pharmacist_dispenses_and_other_clinics_see_nothing(api: Client) -> None:
    patient_id = patient(api)
    prescription_id = prescribe(api, patient_id)["id"]

    assert call(api, "PUT", f"/prescriptions/{prescription_id}", {"status": "DISPENSED"}, role=Role.DOCTOR)[0] == 403
    assert call(api, "PUT", f"/prescriptions/{prescription_id}", {"status": "DISPENSED"}, role=Role.PHARMACIST,
                clinic=OTHER)[0] == 404  # fmt: skip
    assert call(api, "GET", f"/prescriptions/{prescription_id}", clinic=OTHER)[0] == 404
    assert call(api, "GET", f"/prescriptions/patient/{patient_id}", clinic=OTHER)[0] == 404
    assert call(api, "GET", f"/prescriptions/{prescription_id}")[1]["status"] == "PRESCRIBED"


def test_a_prescription_names_an_encounter_of_that_patient_in_the_callers_clinic(api: Client) -> None:
    patient_id, someone_else = patient(api), patient(api, phone="+254712000003")
    theirs = encounter(api, patient(api, clinic=OTHER), clinic=OTHER)

    status, body = call(api, "POST", "/prescriptions", rx(patient_id, encounter(api, someone_else)))
    assert (status, body["code"]) == (422, "encounter_patient_mismatch")
    status, body = call(api, "POST", "/prescriptions", rx(patient_id, theirs))
    assert (status, body["field"]) == (404, "encounter_id")
    status, body = call(api, "POST", "/prescriptions", rx(patient_id, "x", quantity=0))
    assert (status, body["field"]) == (422, "quantity")
    assert prescriptions_of(api, patient_id) == []


def test_each_read_makes_the_same_dynamodb_calls_however_many_records_there_are(api: Client) -> None:
    def operations(path: str) -> list[str]:
        with recorded() as calls:
            assert call(api, "GET", path, role=Role.DOCTOR)[0] == 200
        return [operation for operation, _ in calls]

    def probe(patient_id: str, prescription_id: str) -> dict[str, list[str]]:
        return {path: operations(path) for path in (
            "/prescriptions?status=PRESCRIBED", f"/prescriptions/patient/{patient_id}",
            f"/prescriptions/{prescription_id}", f"/patients/{patient_id}/allergies",
            f"/patients/{patient_id}/encounters")}  # fmt: skip

    small, large = patient(api), patient(api)
    one = prescribe(api, small)["id"]
    allergy(api, small, "Latex")
    many = [prescribe(api, large)["id"] for _ in range(12)]
    for substance in ("Latex", "Pollen", "Peanuts", "Dust"):
        allergy(api, large, substance)

    before, after = probe(small, one), probe(large, many[-1])
    assert list(before.values()) == list(after.values())
    assert before["/prescriptions?status=PRESCRIBED"] == ["Query", "PutItem"]  # the queue, the read audit
    assert before[f"/prescriptions/{one}"] == ["GetItem", "GetItem", "PutItem"]  # pointer, item, audit


def test_a_prescription_of_a_cancelled_visit_is_not_dispensed_but_may_be_cancelled(api: Client) -> None:
    patient_id = patient(api, clinic=BILLED, phone="+254712000077")
    first, second = (prescribe(api, patient_id, "Paracetamol", quantity=3, clinic=BILLED) for _ in range(2))
    status, body = call(api, "PUT", f"/visits/{first['visit_id']}", {"status": "CANCELLED"}, role=Role.RECEPTIONIST,
                        clinic=BILLED)  # fmt: skip
    assert status == 200, body

    status, body = call(api, "PUT", f"/prescriptions/{first['id']}", {"status": "DISPENSED"}, role=Role.PHARMACIST,
                        clinic=BILLED)  # fmt: skip
    assert (status, body["code"], body["field"]) == (409, "visit_closed", "visit_id"), body
    assert dispense(api, second["id"], "CANCELLED")["status"] == "CANCELLED"  # hands nothing over: allowed
    assert medication_lines(bill(api, first["visit_id"])) == []
