"""Prescriptions: POST /prescriptions (with the allergy check), GET /prescriptions?status= (the pharmacy queue),
GET /prescriptions/patient/{patient_id}, GET and PUT /prescriptions/{prescription_id} (dispense, cancel);
caller's clinic only. See docs/journey.md."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import ConfigDict, Field

from chalicelib.api import params, record_ids
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import prescriptions
from chalicelib.services.prescriptions import NextStatus, Prescription, Status
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

Id = Field(min_length=1, max_length=params.MAX_PATIENT_ID)


class NewPrescription(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"patient_id": "3f2a…", "encounter_id": "77b0…", "medication_name": "Paracetamol", "dosage": "500mg",
                 "frequency": "3 times daily", "duration": "5 days", "instructions": "Take with food", "quantity": 15}
            ]
        }
    )  # fmt: skip
    patient_id: str = Id
    encounter_id: str = Id
    medication_name: str = Field(min_length=1, max_length=200)
    dosage: str = Field(min_length=1, max_length=100)
    frequency: str = Field(min_length=1, max_length=100)
    duration: str = Field(min_length=1, max_length=100)
    route: str | None = Field(default=None, min_length=1, max_length=50)
    instructions: str | None = Field(default=None, min_length=1, max_length=2000)
    quantity: int | None = Field(default=None, ge=1, le=100_000)
    allergy_override_reason: str | None = Field(default=None, min_length=3, max_length=2000)


class Dispensing(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "DISPENSED", "dispensing_notes": "Counselled on use"}]}
    )
    status: NextStatus
    dispensing_notes: str | None = Field(default=None, min_length=1, max_length=2000)
    quantity_dispensed: int | None = Field(default=None, ge=1, le=100_000)


class QueueQuery(PageQuery):
    status: Status = "PRESCRIBED"


@endpoint(bp, "POST", "/prescriptions", permission=Permission.PRESCRIPTIONS_WRITE, body=NewPrescription,
          response=Prescription, status=201)  # fmt: skip
def prescribe(call: Call) -> Prescription:
    """Prescribe a medication (409 allergy_conflict on a recorded allergy unless allergy_override_reason is given)."""
    body: NewPrescription = call.body
    return prescriptions.prescribe(call.scope, body.model_dump())


@endpoint(bp, "GET", "/prescriptions", permission=Permission.PRESCRIPTIONS_READ, query=QueueQuery,
          response=Page[Prescription])  # fmt: skip
def queue(call: Call) -> Page[Prescription]:
    """The clinic's prescriptions in one status (PRESCRIBED by default), oldest first: the pharmacy queue."""
    query: QueueQuery = call.query
    return prescriptions.queue(call.scope, query.status, limit=query.limit, next_token=query.next)


@endpoint(bp, "GET", "/prescriptions/patient/{patient_id}", permission=Permission.PRESCRIPTIONS_READ,
          query=PageQuery, response=Page[Prescription])  # fmt: skip
def patient_prescriptions(call: Call, patient_id: str) -> Page[Prescription]:
    """A patient's prescriptions, newest first."""
    query: PageQuery = call.query
    return prescriptions.for_patient(call.scope, params.patient_id(patient_id), limit=query.limit,
                                     next_token=query.next)  # fmt: skip


@endpoint(bp, "GET", "/prescriptions/{prescription_id}", permission=Permission.PRESCRIPTIONS_READ,
          response=Prescription)  # fmt: skip
def prescription(call: Call, prescription_id: str) -> Prescription:
    """One prescription."""
    return prescriptions.get(call.scope, record_ids.record_id(prescription_id, "prescription_id"))


@endpoint(bp, "PUT", "/prescriptions/{prescription_id}", permission=Permission.PRESCRIPTIONS_DISPENSE,
          body=Dispensing, response=Prescription)  # fmt: skip
def dispense(call: Call, prescription_id: str) -> Prescription:
    """Dispense (DISPENSED, PARTIALLY_DISPENSED) or cancel a prescription: legal moves only (409)."""
    body: Dispensing = call.body
    return prescriptions.update(call.scope, record_ids.record_id(prescription_id, "prescription_id"), body.status,
                                notes=body.dispensing_notes, quantity=body.quantity_dispensed)  # fmt: skip
