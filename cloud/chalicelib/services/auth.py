"""Staff login: email + password → a new session (access + refresh token). Every attempt is audited.

Three limits stand before the password is checked (each check a DynamoDB counter, so they hold in
every process, the local API included), and a refused attempt gets 429 `login_throttled` with
`Retry-After`:
- per source IP: `login_ip_attempts` attempts per window (`login_window_minutes`): one address
  trying one password across many accounts;
- in all: `login_global_attempts` per window, whatever the address (many addresses, and the cost
  of each attempt: an argon2 hash of 64 MiB);
- per email, a growing delay rather than a lock: after `login_max_attempts` consecutive failures
  each further attempt must wait `login_delay_seconds`, doubled with every failure up to
  `login_max_delay_minutes`. A stranger can slow a known clinician's login but not shut it for a
  window with a handful of requests; a successful login clears the count.
Known and unknown emails go through the same steps, so no answer says which emails exist. API
Gateway throttles the route as well (infra/template.py), before any of this runs.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from chalicelib.db import audit as audit_repo
from chalicelib.db import login_throttle
from chalicelib.db import users as users_repo
from chalicelib.errors import TooManyAttempts, Unauthenticated
from chalicelib.services import audit, lockout, passwords, sessions, users
from chalicelib.services import totp as second_factor
from chalicelib.services.scope import Origin
from chalicelib.settings import Settings, get_settings

LOGIN_ACTION = "auth.login"
_GENERIC = "the email or password is incorrect"
UNKNOWN_IP = "unknown"  # no source address in the request context (never behind API Gateway)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def login(
    email: str,
    password: str,
    *,
    clinic_id: str | None = None,
    source_ip: str | None = None,
    now: datetime | None = None,
    origin: Origin | None = None,
    totp: str | None = None,
) -> sessions.Tokens:
    """Access and refresh tokens of a new session (see `services.sessions`); `Unauthenticated` or
    `TooManyAttempts` otherwise."""
    now = now or datetime.now(UTC)
    settings = get_settings()
    email = normalise_email(email)
    source_ip = source_ip or (origin.source_ip if origin else None)
    check_attempt(email, source_ip, now, settings)
    matches = users_repo.find_by_email(email)
    user = matches[0] if matches else None  # one account per email; one entry per clinic it belongs to
    if user is None:
        passwords.burn_time(password)
        _audit_failure(None, "anonymous", now, reason="unknown_email", email=email)
        lockout.failed(email, now)
        raise Unauthenticated(_GENERIC, code="invalid_credentials")
    if not passwords.verify(user.password_hash, password):
        _audit_failure(user.clinic_id, audit.user_actor(user.user_id), now, reason="wrong_password")
        lockout.failed(email, now, clinic_id=user.clinic_id, user_id=user.user_id)
        raise Unauthenticated(_GENERIC, code="invalid_credentials")
    if not user.active:
        _audit_failure(user.clinic_id, audit.user_actor(user.user_id), now, reason="inactive")
        raise Unauthenticated(_GENERIC, code="invalid_credentials")
    user = users.choose_clinic(matches, clinic_id)
    second_factor.check_login(user, totp, now=now, origin=origin)  # TOTP when enrolled or required (services/totp)
    attempt_succeeded(email, now)
    if passwords.needs_rehash(user.password_hash):
        users_repo.set_password_hash(user, passwords.hash_password(password), at=now)
    return sessions.start(user, now=now, login_event_action=LOGIN_ACTION, origin=origin)


def check_attempt(email: str, source_ip: str | None, now: datetime, settings: Settings | None = None) -> None:
    """The limits every password login passes before its password is checked (staff here, patients in
    services/patient_auth.py, under their own email key): per address, in all, the lockout, per email."""
    settings = settings or get_settings()
    _check_address_and_total(source_ip or UNKNOWN_IP, email, settings, now)
    lockout.check(email, now)  # a locked account says so (423) rather than "wait" (429)
    _claim_email_attempt(audit.email_fingerprint(email), email, source_ip, settings, now)


def attempt_succeeded(email: str, now: datetime) -> None:
    """A right password: the email's failure count and delay start again."""
    login_throttle.clear_email(audit.email_fingerprint(email), now=now)
    lockout.cleared(email)


def failure_delay(failures: int, settings: Settings) -> timedelta:
    """How long the attempt after `failures` consecutive failures must wait: none until
    `login_max_attempts`, then `login_delay_seconds` doubled per further failure, capped."""
    if failures < settings.login_max_attempts:
        return timedelta(0)
    cap = settings.login_max_delay_minutes * 60
    doublings = min(failures - settings.login_max_attempts, 32)  # 2**32 seconds is past any cap
    return timedelta(seconds=min(cap, settings.login_delay_seconds * 2**doublings))


def _check_address_and_total(source_ip: str, email: str, settings: Settings, now: datetime) -> None:
    window = _Window.at(now, settings)
    limits = (
        (login_throttle.ip_scope(source_ip), settings.login_ip_attempts, "ip", "from this address"),
        (login_throttle.ALL_SCOPE, settings.login_global_attempts, "all", "right now"),
    )
    for scope, limit, name, where in limits:
        if window.count(scope) > limit:
            wait = window.seconds_left(now)
            _throttled(
                f"too many login attempts {where}; try again in {wait} seconds", wait, name, email, source_ip, now
            )


def _claim_email_attempt(
    fingerprint: str, email: str, source_ip: str | None, settings: Settings, now: datetime
) -> None:
    """Counts this attempt against the email (as a failure until it succeeds), unless it must still wait."""
    seen = login_throttle.email_failures(fingerprint, now=now)
    if seen.not_before is not None and seen.not_before > now:
        wait = _seconds(seen.not_before - now)
        _throttled(
            f"too many failed logins for this email; try again in {wait} seconds", wait, "email", email, source_ip, now
        )
    failures = seen.failures + 1
    delay = failure_delay(failures, settings)
    if not login_throttle.claim_email_attempt(fingerprint, seen, failures=failures, not_before=now + delay):
        # Another attempt on this email is under way: one at a time, so parallel guesses gain nothing.
        wait = max(1, _seconds(delay))
        _throttled(
            f"another login for this email is under way; try again in {wait} seconds",
            wait,
            "email",
            email,
            source_ip,
            now,
        )


def _throttled(message: str, wait: int, limit: str, email: str, source_ip: str | None, now: datetime) -> None:
    _audit_failure(None, "anonymous", now, reason="throttled", email=email, limit=limit, source_ip=source_ip)
    raise TooManyAttempts(message, retry_after=wait, code="login_throttled")


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _audit_failure(
    clinic_id: str | None, actor: str, now: datetime, *, reason: str, email: str | None = None, **target: str | None
) -> None:
    details = {"reason": reason} | {key: value for key, value in target.items() if value is not None}
    if email is not None:
        details["email_sha256"] = audit.email_fingerprint(email)
    entry = audit.event(LOGIN_ACTION, clinic_id=clinic_id, actor=actor, at=now, outcome="failure")
    audit_repo.record(entry.model_copy(update={"target": details}))


class _Window:
    """The fixed window `now` falls in (`login_window_minutes` long, counted from the epoch)."""

    def __init__(self, number: int, length: timedelta) -> None:
        self.number, self.length = number, length

    @classmethod
    def at(cls, now: datetime, settings: Settings) -> _Window:
        length = timedelta(minutes=settings.login_window_minutes)
        return cls(int(now.timestamp() // length.total_seconds()), length)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp((self.number + 1) * self.length.total_seconds(), UTC)

    def seconds_left(self, now: datetime) -> int:
        return _seconds(self.end - now)

    def count(self, scope: str) -> int:
        """This attempt counted; the scope's attempts in the window so far, this one included."""
        # DynamoDB may delete the counter one window after the window ends (TTL deletion is lazy anyway).
        return login_throttle.count_attempt(scope, self.number, expires_at=self.end + self.length)
