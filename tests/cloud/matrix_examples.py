"""Example ids for the authorization matrix, keyed by path-parameter name: each factory creates the thing in
clinic A (with the repositories and services that exist) and returns its id. A route with a parameter
name missing here fails the matrix test with "add an example for {name}"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.events.ingest import lambda_handler
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from localdev.router import FakeLambdaContext
from tests.cloud.builders import (
    heartbeat_object_key,
    make_envelope,
    make_heartbeat,
    make_patient_update,
    make_user,
    put_envelope,
    put_object,
    s3_notification,
    sqs_event,
)

CLINIC_A, ORG_A = "clinic-alpha", "org-alpha"
CLINIC_B, ORG_B = "clinic-bravo", "org-bravo"


@dataclass
class World:
    """What the factories created in clinic A: every id, so a response from clinic B can be searched for them."""

    names: ResourceNames
    ids: dict[str, str] = field(default_factory=dict)
    # Patient portal accounts (registered through an invite): "own" is clinic A's example patient,
    # "sibling" another patient of clinic A, "other" a patient of clinic B.
    patients: dict[str, Any] = field(default_factory=dict)

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
    """A pending lab request for a registered patient of clinic A, under a visit of that patient."""
    from chalicelib.services import lab, patients, visits
    from chalicelib.services.lab import LabTest
    from chalicelib.services.scope import Scope

    scope = Scope.system(CLINIC_A, "user:matrix")
    fields = {"first_name": "Matrix", "last_name": "Lab", "sex": "FEMALE", "age": 40, "phone": "+254712000999",
              "insurance_type": "CASH"}  # fmt: skip
    patient = patients.register(scope, fields, force=True)
    visit = visits.open_visit(
        scope,
        patient_id=patient.id,
        chief_complaint="Pallor",
        triage_category=visits.TriageCategory.NORMAL,
        payment_type=visits.PaymentType.CASH,
    )
    return lab.create(scope, patient.id, visit.id, [LabTest(code="HGB", name="Haemoglobin")], "NORMAL", None).id


def registered_patient(clinic_id: str, first_name: str, phone: str) -> str:
    from chalicelib.services import patients
    from chalicelib.services.scope import Scope

    fields = {"first_name": first_name, "last_name": "Matrix", "sex": "FEMALE", "age": 30, "phone": phone,
              "insurance_type": "CASH"}  # fmt: skip
    return patients.register(Scope.system(clinic_id, "cli"), fields).id


def portal_account(clinic_id: str, patient_id: str, email: str) -> Any:
    """A patient portal account, registered with a real invite (services/patient_auth.py)."""
    from chalicelib.db import patient_auth as accounts
    from chalicelib.services import patient_auth
    from chalicelib.services.scope import Origin, Scope
    from tests.cloud.builders import PASSWORD

    invitation = patient_auth.invite(Scope.system(clinic_id, "cli"), patient_id, email)
    patient_auth.register(invitation.token, email, PASSWORD, Origin(source_ip="192.0.2.1"))
    return accounts.account(clinic_id, patient_id)


def patient_accounts(world: World) -> None:
    """The portal accounts the patient principal's tokens come from (each call gets a fresh live session)."""
    if world.patients:
        return
    world.patients["own"] = portal_account(CLINIC_A, world.example("patient_id"), "own.patient@matrix.test")
    sibling = registered_patient(CLINIC_A, "Sibling", "+254712000091")
    world.patients["sibling"] = portal_account(CLINIC_A, sibling, "sibling.patient@matrix.test")
    other = registered_patient(CLINIC_B, "Other", "+254712000092")
    world.patients["other"] = portal_account(CLINIC_B, other, "other.patient@matrix.test")


def patient_headers(world: World, which: str) -> dict[str, str]:
    """A real patient token of a live session of the account `which` (own | sibling | other)."""
    from chalicelib.services import patient_auth
    from chalicelib.services.scope import Origin

    patient_accounts(world)
    started = patient_auth.start_session(world.patients[which], datetime.now(UTC), Origin(), action="matrix.login")
    return {"Authorization": f"Bearer {started.access.token}"}


def message_thread(world: World) -> str:
    """A thread with clinic A's example patient holding one doctor's message whose id is the thread's id, so
    that `{ref}` (a thread id in GET /patient/messages/{ref}, a message id in PATCH .../{ref}/read) names a
    real record on both routes (message and thread ids are both 32 hex digits; their keys differ)."""
    from chalicelib.db import messaging as messages_repo
    from chalicelib.services import audit, messaging
    from chalicelib.services.scope import Scope

    scope = Scope.system(CLINIC_A, "user:matrix-doctor")
    thread = messaging.open_thread(scope, world.example("patient_id"), "Matrix thread")
    message = messages_repo.Message(
        message_id=thread.id, thread_id=thread.id, patient_id=thread.patient_id, sender_type="DOCTOR",
        sender_id=scope.actor, content="Matrix message", created_at=datetime.now(UTC), read_at=None,
    )  # fmt: skip
    with audit.change(scope, "message.sent", resource="message_thread", resource_id=thread.id) as change:
        messages_repo.add_message(change, CLINIC_A, message, to_patient=True)
    return thread.id


def message_ref(world: World) -> str:
    return world.example("thread_id")


def invite_token(world: World) -> str:
    """A live invite of a patient of clinic A."""
    from chalicelib.services import patient_auth
    from chalicelib.services.scope import Scope

    invited = registered_patient(CLINIC_A, "Invited", "+254712000093")
    return patient_auth.invite(Scope.system(CLINIC_A, "cli"), invited, "invited@matrix.test").token


def scan_session(world: World) -> str:
    """A scan session of clinic A's patient (opened with the patient's own scope), with one confirmed photo."""
    import boto3

    from chalicelib.services import scans
    from chalicelib.services.scope import Origin, Scope
    from chalicelib.services.tokens import Principal
    from tests.cloud.images import photo

    patient_id = world.example("patient_id")
    principal = Principal(
        user_id="pu-matrix", clinic_id=CLINIC_A, role=Role.PATIENT, token_id="t", patient_id=patient_id
    )
    scope = Scope.of_request(principal, Origin())
    session_id = scans.open_session(scope).id
    key = scans.object_key(CLINIC_A, patient_id, session_id, scans.ImageType.FRONT, "jpg")
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=world.names.scans_bucket, Key=key, Body=photo())
    scans.confirm_upload(scope, session_id, scans.ImageType.FRONT, key)
    return session_id


def agent(world: World) -> str:
    """An edge agent of clinic A, known from its heartbeat (its configuration is published by admins)."""
    heartbeat = make_heartbeat(clinic_id=CLINIC_A, agent_id="agent-alpha-1")
    _ingest(world.names, put_object(world.names, heartbeat_object_key(heartbeat), heartbeat.model_dump_json().encode()))
    return heartbeat.agent_id


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
    "thread_id": message_thread,
    "ref": message_ref,
    "token": invite_token,
    "scan_session_id": scan_session,
    "agent_id": agent,
}


# The clinical record (encounters, allergies, prescriptions): created through the services, as a clinician would.
def _clinician() -> Scope:
    return Scope.system(CLINIC_A, "system:matrix")


def _visit_patient(world: World) -> str:
    """The patient of the example visit. Encounters and prescriptions are recorded under a visit of their patient,
    and a visit needs a registered patient (an OP number): the example patient_id is known only from an ADT
    registration, so the clinical record's examples belong to the visit's patient."""
    from chalicelib.services import visits

    return visits.require(_clinician(), world.example("visit_id")).patient_id


def encounter(world: World) -> str:
    """A TRIAGE encounter under the example visit, of its patient."""
    from chalicelib.services import encounters

    body = {"patient_id": _visit_patient(world), "visit_id": world.example("visit_id"), "encounter_type": "TRIAGE",
            "vital_signs": {"temperature": 37.2}}  # fmt: skip
    return encounters.record(_clinician(), body).id


def prescription(world: World) -> str:
    """A prescription of the example encounter (so of the example visit's patient)."""
    from chalicelib.services import prescriptions

    body = {"patient_id": _visit_patient(world), "encounter_id": world.example("encounter_id"),
            "medication_name": "Paracetamol", "dosage": "500mg", "frequency": "3 times daily",
            "duration": "5 days"}  # fmt: skip
    return prescriptions.prescribe(_clinician(), body).id


def allergy(world: World) -> str:
    from chalicelib.services import allergies

    return allergies.add(
        _clinician(), world.example("patient_id"), {"substance": "Penicillin", "severity": "SEVERE"}
    ).id


EXAMPLES.update(encounter_id=encounter, prescription_id=prescription, allergy_id=allergy)
