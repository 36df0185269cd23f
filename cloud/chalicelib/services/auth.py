"""Staff login: email + password → a new session (access + refresh token). Every attempt is audited.

Attempts are counted per email (its fingerprint) and fixed window, whether the account exists or
not, so throttling says nothing about which emails exist. Past `login_max_attempts` in a window
the login is refused with 429 before the password is even checked, until the window ends; a
successful login clears the count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.db import audit as audit_repo
from chalicelib.db import login_throttle
from chalicelib.db import users as users_repo
from chalicelib.errors import TooManyAttempts, Unauthenticated
from chalicelib.services import audit, lockout, passwords, sessions, users
from chalicelib.services import totp as second_factor
from chalicelib.services.scope import Origin
from chalicelib.settings import get_settings

LOGIN_ACTION = "auth.login"
_GENERIC = "the email or password is incorrect"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def login(
    email: str,
    password: str,
    *,
    clinic_id: str | None = None,
    now: datetime | None = None,
    origin: Origin | None = None,
    totp: str | None = None,
) -> sessions.Tokens:
    """Access and refresh tokens of a new session (see `services.sessions`); `Unauthenticated` or
    `TooManyAttempts` otherwise."""
    now = now or datetime.now(UTC)
    email = normalise_email(email)
    fingerprint = audit.email_fingerprint(email)
    window = _Window.at(now)
    if window.count(fingerprint) > get_settings().login_max_attempts:
        _audit_failure(None, "anonymous", now, reason="throttled", email=email)
        wait = window.seconds_left(now)
        raise TooManyAttempts(
            f"too many login attempts for this email; try again in {wait} seconds",
            retry_after=wait,
            code="login_throttled",
        )
    lockout.check(email, now)
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
    login_throttle.forget(fingerprint, window.number)
    lockout.cleared(email)
    if passwords.needs_rehash(user.password_hash):
        users_repo.set_password_hash(user, passwords.hash_password(password), at=now)
    return sessions.start(user, now=now, login_event_action=LOGIN_ACTION, origin=origin)


def _audit_failure(clinic_id: str | None, actor: str, now: datetime, *, reason: str, email: str | None = None) -> None:
    target: dict[str, Any] = {"reason": reason}
    if email is not None:
        target["email_sha256"] = audit.email_fingerprint(email)
    audit_repo.record(audit.event(LOGIN_ACTION, clinic_id=clinic_id, actor=actor, at=now, outcome="failure", **target))


class _Window:
    """The fixed window `now` falls in (`login_window_minutes` long, counted from the epoch)."""

    def __init__(self, number: int, length: timedelta) -> None:
        self.number, self.length = number, length

    @classmethod
    def at(cls, now: datetime) -> _Window:
        length = timedelta(minutes=get_settings().login_window_minutes)
        return cls(int(now.timestamp() // length.total_seconds()), length)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp((self.number + 1) * self.length.total_seconds(), UTC)

    def seconds_left(self, now: datetime) -> int:
        return max(1, int((self.end - now).total_seconds() + 0.999))

    def count(self, fingerprint: str) -> int:
        """This attempt counted; the attempts in the window so far, this one included."""
        # DynamoDB may delete the counter one window after the window ends (TTL deletion is lazy anyway).
        return login_throttle.count_attempt(fingerprint, self.number, expires_at=self.end + self.length)
