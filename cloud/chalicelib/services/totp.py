"""TOTP second factor (RFC 6238 via pyotp: 6 digits, 30 s steps, ±1 step accepted) and recovery codes.

Enrolment: `enrol` stores a new secret as pending and returns it (and its otpauth URI); `confirm` with a
current code makes it the account's secret and returns 10 single-use recovery codes (only their SHA-256
is stored). Login of an enrolled account needs a current code (each time step accepted once) or an
unused recovery code. A clinic may require TOTP for roles: such a user without TOTP gets, at login, a
short-lived token that only the enrolment routes accept. Secrets are sealed at rest (services/secretbox.py);
no secret, code or hash ever reaches an audit entry or a log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp

from chalicelib.db import audit as audit_repo
from chalicelib.db import clinics as clinics_repo
from chalicelib.db import store
from chalicelib.db import totp as totp_repo
from chalicelib.db import users as users_repo
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from chalicelib.models import StaffUser
from chalicelib.services import audit, lockout, secretbox, tokens, users
from chalicelib.services.scope import Origin, Scope
from chalicelib.settings import get_settings

ISSUER = "MedFlow"
ENROLMENT_SCOPE = "totp_enrolment"
ENROLMENT_MINUTES = 10
RECOVERY_CODES = 10
LOGIN_ACTION = "auth.login"


@dataclass(frozen=True)
class Enrolment:
    otpauth_uri: str
    secret: str


class EnrolmentRequired(Forbidden):
    """Login refused until the user enrols: carries a token only the enrolment routes accept."""

    code = "totp_enrolment_required"

    def __init__(self, token: tokens.AccessToken) -> None:
        super().__init__("your clinic requires a TOTP second factor for your role: enrol with the enrolment token")
        self.token = token


def enrol(scope: Scope, *, now: datetime | None = None) -> Enrolment:
    now = now or datetime.now(UTC)
    account = users.own_account(scope)
    secret = pyotp.random_base32()
    try:
        with audit.change(scope, "user.totp_enrolment_started", resource="user", resource_id=account.user_id,
                          at=now) as change:  # fmt: skip
            totp_repo.set_pending(change, account.org_id, account.user_id, secretbox.seal(secret, account.user_id),
                                  at=now)  # fmt: skip
    except store.ConditionFailed:
        raise Conflict("TOTP is already enabled; disable it first", code="totp_already_enrolled") from None
    uri = pyotp.TOTP(secret).provisioning_uri(name=account.email, issuer_name=ISSUER)
    return Enrolment(otpauth_uri=uri, secret=secret)


def confirm(scope: Scope, code: str, *, now: datetime | None = None) -> list[str]:
    """Enables the pending secret when `code` is current; returns the recovery codes (shown once)."""
    now = now or datetime.now(UTC)
    account = users.own_account(scope)
    state = totp_repo.state(account.org_id, account.user_id)
    if state is None or state.secret is not None:
        raise Conflict("TOTP is already enabled", code="totp_already_enrolled")
    secret = secretbox.open_sealed(state.pending, account.user_id) if state.pending else None
    if state.pending is None or secret is None:
        raise Conflict("no TOTP enrolment is pending: call /auth/totp/enrol first", code="totp_not_pending")
    step = _matching_step(secret, code, now)
    if step is None:
        raise InvalidInput("the code is not the current one", code="invalid_totp", field="code")
    recovery = [_recovery_code() for _ in range(RECOVERY_CODES)]
    try:
        with audit.change(scope, "user.totp_enabled", resource="user", resource_id=account.user_id,
                          at=now) as change:  # fmt: skip
            totp_repo.confirm(change, account.org_id, account.user_id, state.pending, step,
                              [_digest(c) for c in recovery], at=now)  # fmt: skip
    except store.ConditionFailed:
        raise Conflict("the enrolment changed meanwhile; enrol again", code="totp_not_pending") from None
    return recovery


def disable(scope: Scope, code: str, *, now: datetime | None = None) -> None:
    """Removes the caller's TOTP (a current code or an unused recovery code is required)."""
    now = now or datetime.now(UTC)
    account = users.own_account(scope)
    state = totp_repo.state(account.org_id, account.user_id)
    if state is None or state.secret is None:
        raise Conflict("TOTP is not enabled", code="totp_not_enrolled")
    if scope.role is not None and scope.role.value in _required_roles(scope.clinic_id):
        raise Conflict("your clinic requires TOTP for your role", code="totp_required_by_clinic")
    if not _accept(account.org_id, account.user_id, state, code, now):
        raise InvalidInput("the code is not valid", code="invalid_totp", field="code")
    with audit.change(scope, "user.totp_disabled", resource="user", resource_id=account.user_id, at=now) as change:
        totp_repo.clear(change, account.org_id, account.user_id, at=now)


def reset(scope: Scope, user_id: str, *, now: datetime | None = None) -> None:
    """An admin removes the TOTP of a user of its clinic (lost phone and codes): it enrols again."""
    now = now or datetime.now(UTC)
    row = users_repo.member_row(scope.clinic_id, user_id)
    if row is None:
        raise NotFound("no user with this id in your clinic", code="not_found", field="user_id")
    with audit.change(scope, "user.totp_reset", resource="user", resource_id=user_id, at=now) as change:
        totp_repo.clear(change, row.org_id, user_id, at=now)


def check_login(user: StaffUser, code: str | None, *, now: datetime, origin: Origin | None = None) -> None:
    """At login, once the password is verified: `Unauthenticated` (`totp_required`, `invalid_totp`) for an
    enrolled account without a good code, `EnrolmentRequired` when the clinic requires TOTP for the role."""
    state = totp_repo.state(user.org_id, user.user_id) if user.org_id else None
    if state is None or state.secret is None:
        if user.role in _required_roles(user.clinic_id):
            _audit(user, now, origin, "totp_enrolment_required")
            raise EnrolmentRequired(enrolment_token(user, now))
        return
    if code is None:
        _audit(user, now, origin, "totp_required")
        raise Unauthenticated("a TOTP code (or a recovery code) is required: send it as `totp`", code="totp_required")
    if not _accept(user.org_id or "", user.user_id, state, code, now):
        _audit(user, now, origin, "invalid_totp")
        lockout.failed(user.email, now, clinic_id=user.clinic_id, user_id=user.user_id)
        raise Unauthenticated("the TOTP code is not valid", code="invalid_totp", field="totp")


def enrolment_token(user: StaffUser, now: datetime) -> tokens.AccessToken:
    return tokens.issue(user_id=user.user_id, clinic_id=user.clinic_id, role=user.role, settings=get_settings(),
                        now=now, org_id=user.org_id, scope=ENROLMENT_SCOPE, minutes=ENROLMENT_MINUTES)  # fmt: skip


def _accept(org_id: str, user_id: str, state: totp_repo.TotpState, code: str, now: datetime) -> bool:
    """A current code (its step not used before) or an unused recovery code, spent at once."""
    cleaned = code.replace(" ", "").replace("-", "").upper()
    if cleaned.isdigit():
        secret = secretbox.open_sealed(state.secret, user_id) if state.secret else None
        step = _matching_step(secret, cleaned, now) if secret else None
        if step is None or (state.last_step is not None and step <= state.last_step):
            return False
        return totp_repo.use_step(org_id, user_id, state.secret or "", step)
    digest = _digest(cleaned)
    for index, stored in enumerate(state.recovery_sha256):
        if hmac.compare_digest(stored, digest):
            return totp_repo.use_recovery(org_id, user_id, index, digest)
    return False


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    code = code.strip()
    if len(code) != 6 or not code.isdigit():
        return None
    otp = pyotp.TOTP(secret)
    current = otp.timecode(now)
    found = None
    for offset in (-1, 0, 1):
        if hmac.compare_digest(otp.at(now, counter_offset=offset), code):
            found = current + offset
    return found


def _recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode()  # 80 bits, 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _digest(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").upper().encode()).hexdigest()


def _required_roles(clinic_id: str) -> tuple[str, ...]:
    clinic = clinics_repo.get(clinic_id)
    return clinic.require_totp_roles if clinic else ()


def _audit(user: StaffUser, now: datetime, origin: Origin | None, reason: str) -> None:
    audit_repo.record(audit.event(LOGIN_ACTION, clinic_id=user.clinic_id, actor=audit.user_actor(user.user_id),
                                  at=now, outcome="failure", origin=origin, reason=reason))  # fmt: skip
