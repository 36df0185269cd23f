"""Staff user management; `ensure_admin` creates a clinic's first admin (make admin / make run / the CLI)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from chalicelib.db import users as users_repo
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.models import StaffUser
from chalicelib.services import audit, passwords
from chalicelib.services.auth import normalise_email
from chalicelib.services.roles import Role

CLINIC_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # the S3 key segment rule of shared_models.s3keys
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


def check_clinic_id(clinic_id: str) -> str:
    if not CLINIC_ID.match(clinic_id):
        raise InvalidInput(
            f"clinic id {clinic_id!r} may hold only letters, digits, '_', '.', '-' (1-64 characters)",
            code="invalid_clinic_id",
        )
    return clinic_id


def check_email(email: str) -> str:
    email = normalise_email(email)
    if not EMAIL.match(email):
        raise InvalidInput("the email address is not valid", code="invalid_email")
    return email


def ensure_user(
    clinic_id: str, email: str, password: str, role: Role, *, actor: str = "cli", now: datetime | None = None
) -> str:
    """Creates the user, or resets its password, role and activation when it exists. Returns the user id."""
    now = now or datetime.now(UTC)
    clinic_id = check_clinic_id(clinic_id)
    email = check_email(email)
    passwords.check_policy(password)
    elsewhere = [user for user in users_repo.find_by_email(email) if user.clinic_id != clinic_id]
    if elsewhere:
        # Login is by email alone, so an address may belong to one clinic only.
        raise Conflict("this email address already belongs to a user of another clinic", code="email_taken")
    existing = users_repo.get(clinic_id, email)
    user = StaffUser(
        user_id=existing.user_id if existing else uuid.uuid4().hex,
        clinic_id=clinic_id,
        email=email,
        role=role.value,
        password_hash=passwords.hash_password(password),
        active=True,
        created_at=existing.created_at if existing else now,
    )
    action = "user.password_reset" if existing else "user.created"
    users_repo.save(
        user,
        at=now,
        event=audit.event(action, clinic_id=clinic_id, actor=actor, at=now, user_id=user.user_id, role=role.value),
    )
    return user.user_id


def ensure_admin(clinic_id: str, email: str, password: str) -> str:
    """Idempotent: creates the clinic's admin or resets its password. Returns the user id."""
    return ensure_user(clinic_id, email, password, Role.ADMIN)
