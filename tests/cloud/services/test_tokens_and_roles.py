"""Access tokens (no IO) and the role → permission table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from chalicelib.errors import Unauthenticated
from chalicelib.services import tokens
from chalicelib.services.roles import ROLE_PERMISSIONS, Permission, Role, allows
from chalicelib.settings import Settings

SETTINGS = Settings(stage="test", jwt_secret="unit-test-secret-0123456789abcdefghij")  # type: ignore[arg-type]


def test_round_trip() -> None:
    token = tokens.issue(user_id="u1", clinic_id="demo", role="nurse", settings=SETTINGS)
    principal = tokens.verify(token.token, SETTINGS)
    assert (principal.user_id, principal.clinic_id, principal.role) == ("u1", "demo", Role.NURSE)
    assert token.expires_in == 15 * 60


def test_expired() -> None:
    old = tokens.issue(
        user_id="u1", clinic_id="demo", role="nurse", settings=SETTINGS, now=datetime.now(UTC) - timedelta(minutes=16)
    )
    with pytest.raises(Unauthenticated) as caught:
        tokens.verify(old.token, SETTINGS)
    assert caught.value.code == "token_expired"


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "superuser"},
        {"typ": "refresh"},
        {"clinic_id": None},
    ],
)
def test_tampered_claims_are_rejected(claims: dict[str, object]) -> None:
    good = jwt.decode(
        tokens.issue(user_id="u1", clinic_id="demo", role="nurse", settings=SETTINGS).token,
        options={"verify_signature": False},
    )
    forged = jwt.encode(good | claims, SETTINGS.jwt_secret.get_secret_value(), algorithm="HS256")
    with pytest.raises(Unauthenticated):
        tokens.verify(forged, SETTINGS)


def test_alg_none_is_rejected() -> None:
    unsigned = jwt.encode({"sub": "u1", "clinic_id": "demo", "role": "admin"}, key=None, algorithm="none")
    with pytest.raises(Unauthenticated):
        tokens.verify(unsigned, SETTINGS)


def test_every_role_is_in_the_table() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert len(Role) == 13


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPHTHALMOLOGIST, Role.DOCTOR, Role.NURSE, Role.OPTICIAN])
def test_clinical_roles_read_readings(role: Role) -> None:
    assert allows(role, Permission.READINGS_READ)


@pytest.mark.parametrize("role", [Role.PATIENT, Role.CASHIER, Role.ACCOUNTANT, Role.RECEPTIONIST, Role.MANAGER])
def test_non_clinical_roles_do_not(role: Role) -> None:
    assert not allows(role, Permission.READINGS_READ)


@pytest.mark.parametrize(
    "role",
    [Role.ADMIN, Role.OPHTHALMOLOGIST, Role.DOCTOR, Role.NURSE, Role.RECEPTIONIST, Role.OPTICIAN, Role.LAB_TECHNICIAN],
)
def test_clinical_roles_and_reception_read_patients(role: Role) -> None:
    assert allows(role, Permission.PATIENTS_READ)


@pytest.mark.parametrize("role", [Role.PATIENT, Role.ACCOUNTANT, Role.MANAGER])
def test_other_roles_do_not_read_patients(role: Role) -> None:
    assert not allows(role, Permission.PATIENTS_READ)


@pytest.mark.parametrize("role", [Role.CASHIER, Role.PHARMACIST, Role.SECRETARY])
def test_desk_roles_find_patients_but_read_no_clinical_results(role: Role) -> None:
    """Cashiers, pharmacists and secretaries look patients up to serve them; results stay clinical."""
    assert allows(role, Permission.PATIENTS_READ)
    assert not allows(role, Permission.READINGS_READ)
    assert not allows(role, Permission.UNMATCHED_READ)


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_end_its_own_session_and_no_more_by_that(role: Role) -> None:
    assert allows(role, Permission.SESSION_END)
    if not ROLE_PERMISSIONS[role]:
        assert [p for p in Permission if allows(role, p)] == [Permission.SESSION_END]


def test_a_patient_token_names_its_patient_and_reaches_only_that_patient() -> None:
    from chalicelib.errors import NotFound
    from chalicelib.services.scope import Origin, Scope

    settings = SETTINGS
    token = tokens.issue(user_id="pa-1", clinic_id="c1", role="patient", settings=settings, patient_id="P-1")
    principal = tokens.verify(token.token, settings)
    assert (principal.role, principal.patient_id) == (Role.PATIENT, "P-1")
    scope = Scope.of_request(principal, Origin())
    assert (scope.patient_id, scope.actor) == ("P-1", "patient:P-1")
    assert scope.patient("P-1") == "P-1"
    with pytest.raises(NotFound):
        scope.patient("P-2")


@pytest.mark.parametrize(("role", "patient_id"), [("patient", None), ("doctor", "P-1")])
def test_patient_claim_and_patient_role_go_together(role: str, patient_id: str | None) -> None:
    settings = SETTINGS
    token = tokens.issue(user_id="u", clinic_id="c1", role=role, settings=settings, patient_id=patient_id)
    with pytest.raises(Unauthenticated):
        tokens.verify(token.token, settings)
