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


EXAMPLES: dict[str, Callable[[World], str]] = {
    "patient_id": patient_with_readings,
    "envelope_id": unmatched_envelope,
    "user_id": staff_user,
    "clinic_id": clinic,
    "session_id": session,
    "scan_session_id": scan_session,
}
