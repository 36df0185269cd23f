"""Account lockout (seed 003): 5 wrong passwords within 15 minutes lock the account for 15 minutes.

Counted per email fingerprint whether the account exists or not, and checked before the password,
so a locked answer (423 `account_locked`, `Retry-After`) is the same for every email and tells
nothing about which accounts exist. A successful login clears the count; an admin can unlock.
This sits on top of the per-email login throttle (`services/auth.py`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.db import audit as audit_repo
from chalicelib.db import lockout as lockout_repo
from chalicelib.db import login_throttle
from chalicelib.errors import Locked
from chalicelib.services import audit
from chalicelib.services.scope import Scope
from chalicelib.settings import get_settings


def _policy() -> tuple[int, timedelta]:
    """(failures that lock, how long): MEDFLOW_LOCKOUT_FAILURES (5; 0 turns lockout off) and _MINUTES (15)."""
    settings = get_settings()
    return settings.lockout_failures, timedelta(minutes=settings.lockout_minutes)


LOCKED_ACTION = "auth.account_locked"


def check(email: str, now: datetime) -> None:
    """`Locked` while the email's account is locked (the refusal is audited, with the fingerprint only)."""
    fingerprint = audit.email_fingerprint(email)
    state = lockout_repo.get(fingerprint)
    if state is None or state.locked_until is None or state.locked_until <= now:
        return
    wait = max(1, int((state.locked_until - now).total_seconds() + 0.999))
    audit_repo.record(audit.event("auth.login", clinic_id=None, actor="anonymous", at=now, outcome="failure",
                                  reason="locked", email_sha256=fingerprint))  # fmt: skip
    raise Locked(f"too many wrong passwords; the account is locked, try again in {wait} seconds", retry_after=wait)


def failed(email: str, now: datetime, *, clinic_id: str | None = None, user_id: str | None = None) -> None:
    """Counts a wrong password (or an unknown email); the fifth within the lock period locks the account."""
    fingerprint = audit.email_fingerprint(email)
    state = lockout_repo.get(fingerprint)
    max_failures, lock = _policy()
    if not max_failures:
        return
    restart = state is None or state.since is None or now - state.since >= lock or not state.failures
    if lockout_repo.add_failure(fingerprint, now=now, restart=restart) >= max_failures:
        lockout_repo.lock(fingerprint, until=now + lock)
        actor = audit.user_actor(user_id) if user_id else "anonymous"
        minutes = str(int(lock.total_seconds() // 60))
        entry = audit.event(LOCKED_ACTION, clinic_id=clinic_id, actor=actor, at=now, outcome="failure",
                            email_sha256=fingerprint, minutes=minutes)  # fmt: skip
        audit_repo.record(entry)


def cleared(email: str) -> None:
    lockout_repo.reset(audit.email_fingerprint(email))


def unlock(scope: Scope, user_id: str, email: str, *, now: datetime) -> None:
    """An admin lifts the lock (and the count) of a user of its clinic; audited."""
    fingerprint = audit.email_fingerprint(email)
    with audit.change(scope, "user.unlocked", resource="user", resource_id=user_id, at=now) as change:
        change.update(lockout_repo.ref(fingerprint), actions=lockout_repo.reset_actions())
    login_throttle.clear_email(fingerprint, now=now)  # and the login delay: the admin vouched for the user
