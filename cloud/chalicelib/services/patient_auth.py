"""Patients get into the portal (seed 000 §1): staff invite a patient, the patient checks the invite and registers
with it once, then logs in; patient sessions refresh and end like staff ones.

- An invite token is 32 random bytes in hex, valid `INVITE_DAYS`, single use; only its SHA-256 is stored.
  A new invite for the same patient revokes the older one in the same transaction.
- Checking an invite and registering count against a per-address limit (`invite_ip_attempts` per login
  window), so tokens cannot be enumerated; an invalid invite answers `valid: false` and a reason, and names
  neither the patient nor the email.
- Registering is one transaction: the invite is spent (unused, unrevoked, unexpired, still the patient's
  current one), the email is claimed in the clinic, the password hash (the staff hasher) is stored, and the
  patient is enrolled in remote scanning (its scan plan, services/scan_compliance.py).
- Patient logins pass the staff limits (per address, in all, lockout, per-email delay) under their own email
  key (`patient:{email}`), so a patient's failures never slow a staff account with the same address.
- Sessions are the staff sessions table's, of kind `patient`: `REFRESH_DAYS` long, access tokens
  `ACCESS_MINUTES` (role `patient`, claim `pid`), refresh tokens rotate with reuse detection.
Audit entries hold ids and email fingerprints, never a token, a password or an address.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from chalicelib.db import audit as audit_repo
from chalicelib.db import login_throttle, store
from chalicelib.db import patient_auth as repo
from chalicelib.db import patients as patients_repo
from chalicelib.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthenticated, Unavailable
from chalicelib.services import audit, auth, lockout, passwords, patients, scan_compliance, sessions, tokens
from chalicelib.services.roles import Role
from chalicelib.services.scope import Origin, Scope
from chalicelib.settings import get_settings

INVITE_DAYS = 7
ACCESS_MINUTES = 60
REFRESH_DAYS = 30
ENROL_ATTEMPTS = 3  # the patient edited (scan frequency) or a shared counter busy while registering
LOGIN_ACTION = "patient_auth.login"
_TOKEN = re.compile(r"^[0-9a-f]{64}$")
_GENERIC = "the email or password is incorrect"


class Invitation(BaseModel):
    token: str  # shown once, to the inviting staff member; only its hash is kept
    invite_url: str
    expires_at: datetime


class InviteCheck(BaseModel):
    valid: bool
    patient_name: str | None = None
    email: str | None = None
    reason: str | None = None  # unknown | expired | used | revoked (when not valid)


class PortalPatient(BaseModel):
    """Who the patient token belongs to."""

    id: str
    clinic_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str


@dataclass(frozen=True)
class PatientTokens:
    access: tokens.AccessToken
    refresh_token: str
    refresh_expires_in: int
    patient: PortalPatient | None = None


def normalise_email(email: str) -> str:
    return email.strip().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _throttle_key(email: str) -> str:
    """The throttle and lockout key of a patient email: apart from a staff account with the same address."""
    return f"patient:{email}"


# --- invites ---------------------------------------------------------------------------------------------


def invite(
    scope: Scope, patient_id: str, email: str, *, now: datetime | None = None, rand: Callable[[int], str] | None = None
) -> Invitation:
    """A new invite for a patient of the caller's clinic (revoking the older one); 409 once the patient has
    an account."""
    now = now or datetime.now(UTC)
    patient_id = scope.patient(patient_id)
    if patients_repo.load(scope.clinic_id, patient_id) is None:
        raise NotFound("no patient with this id in your clinic", code="not_found")
    previous = repo.account(scope.clinic_id, patient_id)
    if previous is not None and previous.registered:
        raise Conflict("this patient already has a portal account", code="account_exists")
    token = (rand or secrets.token_hex)(32)
    new = repo.Invite(
        sha256=token_hash(token), clinic_id=scope.clinic_id, patient_id=patient_id, email=normalise_email(email),
        created_at=now, expires_at=now + timedelta(days=INVITE_DAYS), used_at=None, revoked_at=None,
    )  # fmt: skip
    target = {"revoked_previous": "true"} if previous is not None and previous.current_invite else {}
    try:
        with audit.change(scope, "patient.invited", resource="patient", resource_id=patient_id, at=now,
                          **target) as change:  # fmt: skip
            repo.add_invite(change, new, created_by=scope.actor, previous=previous)
            change.emit("patient.invited", patient_id=patient_id)
    except store.ConditionFailed:
        raise Conflict("the patient's invite changed meanwhile; try again", code="invite_conflict") from None
    url = f"{get_settings().portal_url.rstrip('/')}/register/{token}"
    return Invitation(token=token, invite_url=url, expires_at=new.expires_at)


def _limit_address(origin: Origin, now: datetime) -> None:
    """Invite checks and registrations per source address and window: no guessing tokens."""
    settings = get_settings()
    length = timedelta(minutes=settings.login_window_minutes)
    number = int(now.timestamp() // length.total_seconds())
    end = datetime.fromtimestamp((number + 1) * length.total_seconds(), UTC)
    address = origin.source_ip or auth.UNKNOWN_IP
    count = login_throttle.count_attempt(f"INVITE_IP#{address}", number, expires_at=end + length)
    if count > settings.invite_ip_attempts:
        wait = max(1, math.ceil((end - now).total_seconds()))
        audit_repo.record(audit.event("patient_auth.invite_check", clinic_id=None, actor="anonymous", at=now,
                                      outcome="failure", origin=origin, reason="throttled"))  # fmt: skip
        raise TooManyAttempts(
            f"too many invite checks from this address; try again in {wait} seconds",
            retry_after=wait,
            code="invite_throttled",
        )


def _state(found: repo.Invite | None, now: datetime) -> str | None:
    """Why an invite cannot be used (None: it can)."""
    if found is None:
        return "unknown"
    if found.used_at is not None:
        return "used"
    if found.revoked_at is not None:
        return "revoked"
    if now >= found.expires_at:
        return "expired"
    return None


def _lookup(token: str) -> repo.Invite | None:
    return repo.find_invite(token_hash(token)) if _TOKEN.match(token) else None


def validate(token: str, origin: Origin, *, now: datetime | None = None) -> InviteCheck:
    now = now or datetime.now(UTC)
    _limit_address(origin, now)
    found = _lookup(token.strip().lower())
    reason = _state(found, now)
    if reason is not None or found is None:
        return InviteCheck(valid=False, reason=reason)
    return InviteCheck(valid=True, patient_name=_name(found.clinic_id, found.patient_id), email=found.email)


def _name(clinic_id: str, patient_id: str) -> str | None:
    patient = _patient(clinic_id, patient_id, email="")
    name = " ".join(part for part in (patient.first_name, patient.last_name) if part)
    return name or None


def _patient(clinic_id: str, patient_id: str, *, email: str) -> PortalPatient:
    stored = patients_repo.load(clinic_id, patient_id)
    view = patients.view(stored) if stored is not None else None
    return PortalPatient(
        id=patient_id,
        clinic_id=clinic_id,
        first_name=view.first_name if view else None,
        last_name=view.last_name if view else None,
        email=email,
    )


# --- registration and login ------------------------------------------------------------------------------

_REFUSED = {
    "unknown": ("this invite is not valid", "invalid_invite"),
    "used": ("this invite has been used already", "invite_used"),
    "revoked": ("this invite was replaced by a newer one", "invite_revoked"),
    "expired": ("this invite has expired; ask the clinic for a new one", "invite_expired"),
}


def _refuse(reason: str) -> Conflict:
    message, code = _REFUSED[reason]
    return Conflict(message, code=code, field="token")


def register(token: str, email: str, password: str, origin: Origin, *, now: datetime | None = None) -> PatientTokens:
    """Opens the patient's account with the invite (once) and starts a session."""
    now = now or datetime.now(UTC)
    _limit_address(origin, now)
    found = _lookup(token.strip().lower())
    reason = _state(found, now)
    if reason is not None or found is None:
        raise _refuse(reason or "unknown")
    email = normalise_email(email)
    if email != found.email:
        raise InvalidInput("the email is not the one the invite was sent to", code="email_mismatch", field="email")
    passwords.check_policy(password, email=email)
    password_hash = passwords.hash_password(password)
    actor = f"patient:{found.patient_id}"
    scope = dataclasses.replace(Scope.system(found.clinic_id, actor), origin=origin)
    for attempt in range(ENROL_ATTEMPTS):
        # The account enrols the patient in remote scanning (its scan plan: due `scan_frequency` days from now),
        # with the frequency as read: the record's version must not move before the commit.
        # A patient already holding a plan (enrolled by a session under an older account) keeps it.
        patient = patients_repo.load(found.clinic_id, found.patient_id)
        version = patient.version if patient is not None else 0
        enrolled = scan_compliance.plan(found.clinic_id, found.patient_id) is not None
        plan = scan_compliance.enrolment(found.patient_id, now, scan_compliance.frequency_of(patient))
        try:
            with audit.change(scope, "patient.portal_registered", resource="patient", resource_id=found.patient_id,
                              at=now) as change:  # fmt: skip
                repo.register(change, found, email=email, password_hash=password_hash, at=now)
                if not enrolled:
                    patients_repo.check_version(change, found.clinic_id, found.patient_id, version)
                    scan_compliance.enrol(change, found.clinic_id, plan)
                change.emit("patient.portal_registered", patient_id=found.patient_id)
            break
        except store.Contention:
            if attempt == ENROL_ATTEMPTS - 1:
                raise Unavailable("the clinic's counters are busy; try again", code="registration_busy") from None
        except store.ConditionFailed:
            again = patients_repo.load(found.clinic_id, found.patient_id)
            moved = (again.version if again is not None else 0) != version
            moved = moved or (scan_compliance.plan(found.clinic_id, found.patient_id) is not None) != enrolled
            if attempt == ENROL_ATTEMPTS - 1 or not moved:
                raise _lost_registration(found, email, now) from None
    account = repo.Account(found.clinic_id, found.patient_id, found.sha256, email, password_hash)
    return start_session(account, now, origin, action="patient_auth.register")


def _lost_registration(found: repo.Invite, email: str, now: datetime) -> Conflict:
    """Why the registering transaction was refused, read again (a concurrent register usually)."""
    reason = _state(repo.invite(found.clinic_id, found.sha256), now)
    if reason is not None:
        return _refuse(reason)
    if repo.email_holder(found.clinic_id, email) is not None:
        return Conflict("this email is used by another patient account of the clinic", code="email_taken",
                        field="email")  # fmt: skip
    return Conflict("this patient already has a portal account", code="account_exists")


def login(
    email: str, password: str, origin: Origin, *, clinic_id: str | None = None, now: datetime | None = None
) -> PatientTokens:
    """A new patient session; 401 `invalid_credentials` alike for an unknown email and a wrong password."""
    now = now or datetime.now(UTC)
    email = normalise_email(email)
    key = _throttle_key(email)
    auth.check_attempt(key, origin.source_ip, now)
    candidates = [a for a in repo.accounts_by_email(email) if clinic_id is None or a.clinic_id == clinic_id]
    if not candidates:
        passwords.burn_time(password)
    matches = [a for a in candidates if a.password_hash and passwords.verify(a.password_hash, password)]
    if not matches:
        first = candidates[0] if candidates else None
        _audit_failure(first, now, origin, "unknown_email" if first is None else "wrong_password", key)
        lockout.failed(key, now, clinic_id=first.clinic_id if first else None)
        raise Unauthenticated(_GENERIC, code="invalid_credentials")
    if len(matches) > 1:
        raise InvalidInput("this email has accounts at several clinics: give clinic_id", code="clinic_required",
                           field="clinic_id")  # fmt: skip
    account = matches[0]
    auth.attempt_succeeded(key, now)
    if account.password_hash and passwords.needs_rehash(account.password_hash):
        repo.set_password_hash(account, passwords.hash_password(password))
    return start_session(account, now, origin, action=LOGIN_ACTION)


def _audit_failure(account: repo.Account | None, now: datetime, origin: Origin, reason: str, key: str) -> None:
    actor = f"patient:{account.patient_id}" if account else "anonymous"
    audit_repo.record(audit.event(LOGIN_ACTION, clinic_id=account.clinic_id if account else None, actor=actor,
                                  at=now, outcome="failure", origin=origin, reason=reason,
                                  email_sha256=audit.email_fingerprint(key)))  # fmt: skip


def start_session(account: repo.Account, now: datetime, origin: Origin, *, action: str) -> PatientTokens:
    """A new session of a registered account (after its password or its invite was checked)."""
    email = account.email or ""
    session, secret = sessions.begin(
        clinic_id=account.clinic_id, user_id=_subject(account.patient_id), email=email, kind=sessions.PATIENT,
        lifetime=timedelta(days=REFRESH_DAYS), action=action, actor=f"patient:{account.patient_id}", now=now,
        origin=origin,
    )  # fmt: skip
    return PatientTokens(
        access=_access(account.clinic_id, account.patient_id, session.session_id, now),
        refresh_token=sessions.refresh_token_of(session, secret),
        refresh_expires_in=int((session.expires_at - now).total_seconds()),
        patient=_patient(account.clinic_id, account.patient_id, email=email),
    )


def _subject(patient_id: str) -> str:
    return f"patient:{patient_id}"


def _access(clinic_id: str, patient_id: str, session_id: str, now: datetime) -> tokens.AccessToken:
    return tokens.issue(
        user_id=_subject(patient_id), clinic_id=clinic_id, role=Role.PATIENT.value, settings=get_settings(),
        now=now, session_id=session_id, minutes=ACCESS_MINUTES, patient_id=patient_id,
    )  # fmt: skip


def refresh(refresh_token: str, *, now: datetime | None = None) -> PatientTokens:
    """The refresh token (from the `patient_refresh` cookie) is spent and replaced; any other secret of the
    session ends it (services/sessions.py)."""
    now = now or datetime.now(UTC)

    def reload(session: sessions.Session) -> Callable[[], tokens.AccessToken]:
        patient_id = session.user_id.removeprefix("patient:")
        account = repo.account(session.clinic_id, patient_id)
        if account is None or not account.registered or account.email != session.email:
            sessions.finish(session, "account_inactive", now, session.user_id, outcome="failure")
            raise Unauthenticated("the account is no longer active", code="session_ended")
        return lambda: _access(session.clinic_id, patient_id, session.session_id, now)

    renewed = sessions.rotate(refresh_token, kind=sessions.PATIENT, actor=lambda uid: uid, reload=reload, now=now)
    return PatientTokens(renewed.access, renewed.refresh_token, renewed.refresh_expires_in)


def logout(principal: tokens.Principal) -> bool:
    return sessions.end(principal)
