"""Example ids for the authorization matrix, keyed by path-parameter name: each factory creates the thing in
clinic A (with the repositories and services that exist) and returns its id. A route with a parameter
name missing here fails the matrix test with "add an example for {name}"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from chalicelib.events.ingest import lambda_handler
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from localdev.router import FakeLambdaContext
from tests.cloud.builders import make_envelope, make_patient_update, make_user, put_envelope, s3_notification, sqs_event

CLINIC_A, ORG_A = "clinic-alpha", "org-alpha"
CLINIC_B, ORG_B = "clinic-bravo", "org-bravo"


@dataclass
class World:
    """What the factories created in clinic A: every id, so a response from clinic B can be searched for them."""

    names: ResourceNames
    ids: dict[str, str] = field(default_factory=dict)

    def example(self, name: str) -> str:
        if name not in self.ids:
            factory = EXAMPLES.get(name)
            if factory is None:
                pytest.fail(f"add an example for {name} to tests/cloud/matrix_examples.py")
            self.ids[name] = factory(self)
        return self.ids[name]

    def markers(self) -> set[str]:
        """Strings that only clinic A's data contains."""
        return {CLINIC_A, *self.ids.values()}


def _ingest(names: ResourceNames, *keys: str) -> None:
    answer = lambda_handler(sqs_event(*(s3_notification(names.bucket, key) for key in keys)), FakeLambdaContext())
    assert answer["batchItemFailures"] == []


def patient_with_readings(world: World) -> str:
    """A patient known from an ADT registration, with a tonometry capture."""
    patient_id = "P-ALPHA-7"
    at = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    registered = make_patient_update(clinic_id=CLINIC_A, patient_id=patient_id, seed="matrix-a04", event="A04")
    capture = make_envelope(clinic_id=CLINIC_A, patient_id=patient_id, seed="matrix-capture", captured_at=at)
    _ingest(world.names, put_envelope(world.names, registered), put_envelope(world.names, capture))
    return patient_id


def unmatched_envelope(world: World) -> str:
    """An envelope without a patient id (awaiting assignment)."""
    envelope = make_envelope(clinic_id=CLINIC_A, patient_id=None, seed="matrix-orphan")
    _ingest(world.names, put_envelope(world.names, envelope))
    return envelope.envelope_id


def staff_user(world: World) -> str:
    return make_user(CLINIC_A, "matrix.nurse@clinic-alpha.test", Role.NURSE)


def session(world: World) -> str:
    """A live session of clinic A's nurse (from a real login)."""
    from chalicelib.services import auth
    from tests.cloud.builders import PASSWORD

    world.example("user_id")
    return auth.login("matrix.nurse@clinic-alpha.test", PASSWORD).refresh_token.split(".")[0]


def clinic(world: World) -> str:
    # No clinics repository yet: a clinic exists once something is stored under its id.
    world.example("patient_id")
    return CLINIC_A


def visit(world: World) -> str:
    """An open visit of a registered patient of clinic A."""
    from chalicelib.services import patients, visits
    from chalicelib.services.scope import Scope

    scope = Scope.system(CLINIC_A, "user:matrix")
    patient = patients.register(scope, {"first_name": "Matrix", "last_name": "Visit", "sex": "FEMALE", "age": 30,
                                        "phone": "+254700000001", "insurance_type": "CASH"})  # fmt: skip
    opened = visits.open_visit(
        scope,
        patient_id=patient.id,
        chief_complaint="Cough",
        triage_category=visits.TriageCategory.NORMAL,
        payment_type=visits.PaymentType.CASH,
    )
    return opened.id


def sha_invoice(world: World) -> str:
    """A PENDING SHA invoice of a SHA visit of clinic A."""
    from chalicelib.services import patients, sha_invoices, visits
    from chalicelib.services.scope import Scope

    scope = Scope.system(CLINIC_A, "user:matrix")
    patient = patients.register(scope, {"first_name": "Matrix", "last_name": "Invoice", "sex": "MALE", "age": 40,
                                        "phone": "+254700000002", "insurance_type": "SHA"})  # fmt: skip
    visit = visits.open_visit(
        scope,
        patient_id=patient.id,
        chief_complaint="Cough",
        triage_category=visits.TriageCategory.NORMAL,
        payment_type=visits.PaymentType.SHA,
    )
    return sha_invoices.create(scope, visit_id=visit.id, sha_number="SHA-MATRIX-1").id


def appointment(world: World) -> str:
    """A booked appointment of clinic A (its nurse as the provider)."""
    from datetime import date

    from chalicelib.services import appointments, patients
    from chalicelib.services.scope import Scope

    scope = Scope.system(CLINIC_A, "user:matrix")
    patient = patients.register(scope, {"first_name": "Matrix", "last_name": "Booking", "sex": "FEMALE", "age": 25,
                                        "phone": "+254700000003", "insurance_type": "CASH"})  # fmt: skip
    provider = world.example("user_id")
    return appointments.book(scope, patient_id=patient.id, provider_id=provider, day=date(2030, 1, 14), time="09:00").id
def lab_request(world: World) -> str:
    """A pending lab request for a registered patient of clinic A."""
    from chalicelib.services import lab, patients
    from chalicelib.services.lab import LabTest
    from chalicelib.services.scope import Scope

    scope = Scope.system(CLINIC_A, "user:matrix")
    fields = {"first_name": "Matrix", "last_name": "Lab", "sex": "FEMALE", "age": 40, "phone": "+254712000999",
              "insurance_type": "CASH"}  # fmt: skip
    patient = patients.register(scope, fields, force=True)
    return lab.create(scope, patient.id, "visit-matrix", [LabTest(code="HGB", name="Haemoglobin")], "NORMAL", None).id


EXAMPLES: dict[str, Callable[[World], str]] = {
    "patient_id": patient_with_readings,
    "envelope_id": unmatched_envelope,
    "user_id": staff_user,
    "clinic_id": clinic,
    "session_id": session,
    "visit_id": visit,
    "invoice_id": sha_invoice,
    "appointment_id": appointment,
    "lab_request_id": lab_request,
}


# The clinical record (encounters, allergies, prescriptions): created through the services, as a clinician would.
def _clinician() -> Scope:
    return Scope.system(CLINIC_A, "system:matrix")


def encounter(world: World) -> str:
    """A TRIAGE encounter of the example patient."""
    from chalicelib.services import encounters

    body = {"patient_id": world.example("patient_id"), "visit_id": "V-ALPHA-1", "encounter_type": "TRIAGE",
            "vital_signs": {"temperature": 37.2}}  # fmt: skip
    return encounters.record(_clinician(), body).id


def prescription(world: World) -> str:
    from chalicelib.services import prescriptions

    body = {"patient_id": world.example("patient_id"), "encounter_id": world.example("encounter_id"),
            "medication_name": "Paracetamol", "dosage": "500mg", "frequency": "3 times daily",
            "duration": "5 days"}  # fmt: skip
    return prescriptions.prescribe(_clinician(), body).id


def allergy(world: World) -> str:
    from chalicelib.services import allergies

    return allergies.add(
        _clinician(), world.example("patient_id"), {"substance": "Penicillin", "severity": "SEVERE"}
    ).id


EXAMPLES.update(encounter_id=encounter, prescription_id=prescription, allergy_id=allergy)
