"""Staff login: email + password → access token. Every attempt is audited; only the audit log tells failures apart."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.db import audit as audit_repo
from chalicelib.db import users as users_repo
from chalicelib.errors import Unauthenticated
from chalicelib.services import audit, passwords, tokens
from chalicelib.settings import get_settings

LOGIN_ACTION = "auth.login"
_GENERIC = "the email or password is incorrect"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def login(email: str, password: str, *, now: datetime | None = None) -> tokens.AccessToken:
    now = now or datetime.now(UTC)
    email = normalise_email(email)
    matches = users_repo.find_by_email(email)
    user = matches[0] if len(matches) == 1 else None
    if user is None:
        passwords.burn_time(password)
        _audit_failure(
            None, "anonymous", now, reason="unknown_email" if not matches else "ambiguous_email", email=email
        )
        raise Unauthenticated(_GENERIC, code="invalid_credentials")
    if not passwords.verify(user.password_hash, password):
        _audit_failure(user.clinic_id, audit.user_actor(user.user_id), now, reason="wrong_password")
        raise Unauthenticated(_GENERIC, code="invalid_credentials")
    if not user.active:
        _audit_failure(user.clinic_id, audit.user_actor(user.user_id), now, reason="inactive")
        raise Unauthenticated(_GENERIC, code="invalid_credentials")
    if passwords.needs_rehash(user.password_hash):
        users_repo.set_password_hash(user, passwords.hash_password(password), at=now)
    audit_repo.record(audit.event(LOGIN_ACTION, clinic_id=user.clinic_id, actor=audit.user_actor(user.user_id), at=now))
    return tokens.issue(
        user_id=user.user_id, clinic_id=user.clinic_id, role=user.role, settings=get_settings(), now=now
    )


def _audit_failure(clinic_id: str | None, actor: str, now: datetime, *, reason: str, email: str | None = None) -> None:
    target = {"reason": reason}
    if email is not None:
        target["email_sha256"] = audit.email_fingerprint(email)
    audit_repo.record(audit.event(LOGIN_ACTION, clinic_id=clinic_id, actor=actor, at=now, outcome="failure", **target))
