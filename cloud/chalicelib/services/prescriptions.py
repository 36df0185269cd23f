"""Prescriptions: a clinician prescribes against a patient's encounter (checked against the patient's recorded
allergies), the pharmacist works the clinic's queue and dispenses (a MEDICATION charge on the visit), or the
prescription is cancelled. See docs/journey.md.

Status moves (anything else is 409 `illegal_transition`, naming the allowed ones):
PRESCRIBED → DISPENSED | PARTIALLY_DISPENSED | CANCELLED; PARTIALLY_DISPENSED → DISPENSED | CANCELLED.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.db import allergies as allergies_repo
from chalicelib.db import audit as audit_repo
from chalicelib.db import prescriptions as repo
from chalicelib.db import store
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.models import Page
from chalicelib.services import audit, charges, drug_classes, encounters, visits
from chalicelib.services.scope import Scope

Status = Literal["PRESCRIBED", "DISPENSED", "PARTIALLY_DISPENSED", "CANCELLED"]
NextStatus = Literal["DISPENSED", "PARTIALLY_DISPENSED", "CANCELLED"]
MOVES: dict[str, tuple[str, ...]] = {
    "PRESCRIBED": ("DISPENSED", "PARTIALLY_DISPENSED", "CANCELLED"),
    "PARTIALLY_DISPENSED": ("DISPENSED", "CANCELLED"),
    "DISPENSED": (),
    "CANCELLED": (),
}


class Prescription(BaseModel):
    id: str
    patient_id: str
    encounter_id: str
    visit_id: str
    medication_name: str
    dosage: str
    frequency: str
    duration: str
    route: str | None = None
    instructions: str | None = None
    quantity: int | None = None
    status: Status
    allergy_override_reason: str | None = None
    overridden_allergies: list[str] = []
    prescribed_by: str
    prescribed_at: datetime
    quantity_dispensed: int | None = None
    dispensing_notes: str | None = None
    dispensed_by: str | None = None
    dispensed_at: datetime | None = None


def _view(item: repo.PrescriptionItem) -> Prescription:
    return Prescription(
        id=item.prescription_id, patient_id=item.patient_id, encounter_id=item.encounter_id, visit_id=item.visit_id,
        medication_name=item.medication_name, dosage=item.dosage, frequency=item.frequency, duration=item.duration,
        route=item.route, instructions=item.instructions,
        quantity=int(item.quantity) if item.quantity is not None else None,
        status=item.status,
        allergy_override_reason=item.allergy_override_reason, overridden_allergies=item.overridden_allergies or [],
        prescribed_by=item.prescribed_by, prescribed_at=item.prescribed_at,
        quantity_dispensed=int(item.quantity_dispensed) if item.quantity_dispensed is not None else None,
        dispensing_notes=item.dispensing_notes, dispensed_by=item.dispensed_by, dispensed_at=item.dispensed_at,
    )  # fmt: skip


def _conflicting(scope: Scope, patient_id: str, medication: str) -> list[tuple[allergies_repo.AllergyItem, str]]:
    found = []
    for allergy in allergies_repo.all_active(scope, patient_id):
        why = drug_classes.conflicts(medication, allergy.substance)
        if why:
            found.append((allergy, why))
    return found


def prescribe(scope: Scope, fields: dict[str, Any]) -> Prescription:
    """Prescribes; 409 `allergy_conflict` when a recorded allergy matches the medication, unless
    `allergy_override_reason` is given (then stored, and audited as `prescription.allergy_override`)."""
    patient_id = encounters.require_patient(scope, fields["patient_id"])
    encounter = encounters.load(scope, fields["encounter_id"])
    if encounter.patient_id != patient_id:
        raise InvalidInput("encounter_id is an encounter of another patient", code="encounter_patient_mismatch",
                           field="encounter_id")  # fmt: skip
    override = fields.get("allergy_override_reason")
    conflicts = _conflicting(scope, patient_id, fields["medication_name"])
    if conflicts and not override:
        allergy, why = conflicts[0]
        raise Conflict(
            f"the patient has a recorded {allergy.severity} allergy to {allergy.substance!r} ({why}; allergy "
            f"{allergy.allergy_id}); give allergy_override_reason to prescribe anyway",
            code="allergy_conflict",
            field="medication_name",
        )
    overridden = [allergy.allergy_id for allergy, _ in conflicts]
    prescription_id, at = uuid.uuid4().hex, datetime.now(UTC)
    values = {name: fields.get(name) for name in ("medication_name", "dosage", "frequency", "duration", "route",
                                                  "instructions", "quantity")}  # fmt: skip
    item = repo.new(scope, patient_id, prescription_id, at, encounter_id=encounter.encounter_id,
                    visit_id=encounter.visit_id, status="PRESCRIBED",
                    allergy_override_reason=override if conflicts else None,
                    overridden_allergies=overridden or None, **values)  # fmt: skip
    with audit.change(scope, "prescription.prescribed", resource="prescription", resource_id=prescription_id, at=at,
                      patient_id=patient_id, encounter_id=encounter.encounter_id) as c:  # fmt: skip
        repo.add(c, scope, item)
        if overridden:
            # Its own entry, so `GET /audit?resource=prescription` shows who overrode which allergy (ids only).
            audit_repo.add(c.unit, audit.entry(scope, "prescription.allergy_override", at=at, resource="prescription",
                                               resource_id=prescription_id, patient_id=patient_id,
                                               allergy_ids=",".join(overridden)))  # fmt: skip
        c.emit("prescription.ready", prescription_id=prescription_id, patient_id=patient_id,
               visit_id=encounter.visit_id)  # fmt: skip
    return _view(item)


def _load(scope: Scope, prescription_id: str) -> repo.PrescriptionItem:
    item = repo.load(scope, prescription_id)
    if item is None or (scope.patient_id is not None and item.patient_id != scope.patient_id):
        raise NotFound("no prescription with this id in your clinic", code="not_found", field="prescription_id")
    return item


def get(scope: Scope, prescription_id: str) -> Prescription:
    prescription = _view(_load(scope, prescription_id))
    audit.read(scope, "prescription", [prescription.id])
    return prescription


def _handed_over(item: repo.PrescriptionItem, status: str, quantity: int | None) -> int:
    """How many units this dispensing hands over (checked against what was prescribed and already given)."""
    prescribed = int(item.quantity) if item.quantity is not None else None
    before = int(item.quantity_dispensed or 0)
    if quantity is None:
        if status == "PARTIALLY_DISPENSED":
            raise InvalidInput("a partial dispensing says how much was handed over", code="invalid_request",
                               field="quantity_dispensed")  # fmt: skip
        return prescribed - before if prescribed is not None else 1
    if prescribed is not None and before + quantity > prescribed:
        raise InvalidInput(f"only {prescribed - before} of {prescribed} remain to dispense", code="invalid_request",
                           field="quantity_dispensed")  # fmt: skip
    if status == "PARTIALLY_DISPENSED" and prescribed is not None and before + quantity == prescribed:
        raise InvalidInput("this hands over the whole quantity: use status DISPENSED", code="invalid_request",
                           field="quantity_dispensed")  # fmt: skip
    return quantity


def medication_code(name: str) -> str:
    """The price-list code of a medication: its name in upper case, runs of anything but letters and digits as
    one underscore ("Amoxicillin 500 mg" -> AMOXICILLIN_500_MG)."""
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "MEDICATION"


def update(scope: Scope, prescription_id: str, status: NextStatus, *, notes: str | None,
           quantity: int | None) -> Prescription:  # fmt: skip
    """Dispenses (fully or partly) or cancels: legal moves only (409), a MEDICATION charge on the visit for
    what is handed over, `prescription.dispensed` (or `.cancelled`) to the outbox."""
    item = _load(scope, prescription_id)
    if status not in MOVES[item.status]:
        allowed = ", ".join(MOVES[item.status]) or "none"
        raise Conflict(f"a {item.status} prescription cannot become {status} (allowed: {allowed})",
                       code="illegal_transition", field="status")  # fmt: skip
    if status == "CANCELLED" and quantity is not None:
        raise InvalidInput("a cancellation hands nothing over", code="invalid_request", field="quantity_dispensed")
    at = datetime.now(UTC)
    handed = 0 if status == "CANCELLED" else _handed_over(item, status, quantity)
    values: dict[str, Any] = {"dispensing_notes": notes if notes is not None else item.dispensing_notes}
    if handed:
        values.update(quantity_dispensed=int(item.quantity_dispensed or 0) + handed, dispensed_by=scope.actor,
                      dispensed_at=at)  # fmt: skip
    action = "prescription.cancelled" if status == "CANCELLED" else "prescription.dispensed"
    visit = visits.require_open_for_patient(scope, item.visit_id, item.patient_id) if handed else None
    try:
        with audit.change(scope, action, resource="prescription", resource_id=prescription_id, at=at,
                          patient_id=item.patient_id, status=status) as c:  # fmt: skip
            repo.change_status(c, scope, item, status, at, **values)
            if visit is not None:
                # Priced from the clinic's list by the medication's code (AMOXICILLIN_500MG style), else its
                # MEDICATION DEFAULT price, else unpriced on the bill.
                code = medication_code(item.medication_name)
                charges.add(c, scope, visit, kind=charges.ChargeKind.MEDICATION, code=code,
                            description=item.medication_name, quantity=handed)  # fmt: skip
            c.emit(action, prescription_id=prescription_id, patient_id=item.patient_id, visit_id=item.visit_id,
                   status=status)  # fmt: skip
    except store.ConditionFailed:
        raise Conflict(
            "the prescription changed while you were dispensing it; reload it and try again",
            code="prescription_changed",
            field="status",
        ) from None
    updated = repo.load(scope, prescription_id)
    assert updated is not None
    return _view(updated)


def for_patient(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> Page[Prescription]:
    encounters.require_patient(scope, patient_id)
    found = repo.for_patient(scope, patient_id, limit=limit, next_token=next_token)
    audit.read(scope, "patient", [patient_id])
    return Page[Prescription](items=[_view(row) for row in found.items], next=found.next)


def queue(scope: Scope, status: Status, *, limit: int, next_token: str | None) -> Page[Prescription]:
    """The clinic's prescriptions in one status, oldest first (the pharmacy's work list); one Query."""
    found = repo.queue(scope, status, limit=limit, next_token=next_token)
    items = [_view(row) for row in found.items]
    audit.read(scope, "prescription", [p.id for p in items])
    return Page[Prescription](items=items, next=found.next)
