"""Staff sessions: a login starts one; its refresh token, replaced at every use, gets new access tokens until it ends.

A refresh token is `{session_id}.{secret}`; only the secret's SHA-256 is stored. Each refresh
replaces the secret, and any secret but the current one presented for a live session ends the
session at once, for whoever holds it: everyone logs in again (refresh token rotation with reuse
detection, as the OAuth 2.0 security best practice describes). Not only the one replaced secret
the item remembers: a thief who refreshed twice (T1 → T2 → T3) leaves the victim holding T1,
which is no longer the previous secret but must still end the session. The session id is 128
random bits that only its tokens carry, so a wrong secret for it is a leaked token, not a guess.
The loser of two refreshes racing with the same token is treated the same way: one of the two
callers holds a copy.
The user is read again at every refresh: a deactivated account gets no new access token and a
changed role takes effect. Access tokens stay stateless: one issued before a logout keeps
working until it expires (`access_token_minutes`, 15 by default).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from chalicelib.db import sessions as sessions_repo
from chalicelib.db import users as users_repo
from chalicelib.db.sessions import Session
from chalicelib.errors import InvalidInput, NotFound, Unauthenticated
from chalicelib.models import StaffUser
from chalicelib.services import audit, tokens
from chalicelib.services.scope import Origin
from chalicelib.settings import get_settings

STAFF, PATIENT = "staff", "patient"  # the kinds of session: a refresh works only at its own kind's route
REFRESH_ACTION = "auth.refresh"
LOGOUT_ACTION = "auth.logout"
_TOKEN = re.compile(r"^([0-9a-f]{32})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Tokens:
    access: tokens.AccessToken
    refresh_token: str
    refresh_expires_in: int  # seconds until the session ends (refreshing does not extend it)

    def body(self) -> dict[str, object]:
        return {
            "access_token": self.access.token,
            "token_type": "Bearer",
            "expires_in": self.access.expires_in,
            "refresh_token": self.refresh_token,
            "refresh_expires_in": self.refresh_expires_in,
        }


def start(user: StaffUser, *, now: datetime, login_event_action: str, origin: Origin | None = None) -> Tokens:
    """A new session for `user`, stored with the login's audit entry (one transaction); the session
    records the login's device (user agent) and source IP."""
    session, secret = begin(
        clinic_id=user.clinic_id, user_id=user.user_id, email=user.email, kind=STAFF,
        lifetime=timedelta(hours=get_settings().session_hours), action=login_event_action,
        actor=audit.user_actor(user.user_id), now=now, origin=origin,
    )  # fmt: skip
    return _tokens(user, session, secret, now)


def begin(
    *,
    clinic_id: str,
    user_id: str,
    email: str,
    kind: str,
    lifetime: timedelta,
    action: str,
    actor: str,
    now: datetime,
    origin: Origin | None,
) -> tuple[Session, str]:
    """Stores a new session of `kind` with its audit entry (one transaction): the session and its refresh secret."""
    session_id, secret = uuid.uuid4().hex, secrets.token_urlsafe(32)
    session = Session(session_id, clinic_id, user_id, email, _digest(secret), None, now + lifetime, None, kind=kind)
    event = audit.event(action, clinic_id=clinic_id, actor=actor, at=now, origin=origin, session=session_id)
    origin = origin or Origin()
    sessions_repo.create(session, at=now, event=event, device=origin.user_agent, ip=origin.source_ip)
    return session, secret


def refresh_token_of(session: Session, secret: str) -> str:
    return f"{session.session_id}.{secret}"


def refresh(refresh_token: str, *, now: datetime | None = None) -> Tokens:
    """New access and refresh tokens for a live session; `Unauthenticated` with a precise code otherwise."""
    now = now or datetime.now(UTC)

    def reload(session: Session) -> Callable[[], tokens.AccessToken]:
        user = users_repo.get(session.clinic_id, session.email)
        if user is None or not user.active or user.user_id != session.user_id:
            _end(session, "account_inactive", now, audit.user_actor(session.user_id), outcome="failure")
            raise Unauthenticated("the account is no longer active", code="session_ended")
        return lambda: _access(user, session, now)

    return rotate(refresh_token, kind=STAFF, actor=audit.user_actor, reload=reload, now=now)


def rotate(
    refresh_token: str,
    *,
    kind: str,
    actor: Callable[[str], str],
    reload: Callable[[Session], Callable[[], tokens.AccessToken]],
    now: datetime,
) -> Tokens:
    """The refresh of a live session of `kind` (staff or patient): the presented secret is spent and replaced,
    any other secret ends the session. `reload(session)` re-reads the account (ending the session when it
    is gone) and returns how to mint the new access token; `actor(user_id)` names the caller in the audit."""
    match = _TOKEN.match(refresh_token.strip())
    session = sessions_repo.get(match.group(1)) if match else None
    if match is None or session is None or session.kind != kind:
        raise Unauthenticated("the refresh token is not valid; log in again", code="invalid_refresh_token")
    if session.ended_at is not None or now >= session.expires_at:
        raise Unauthenticated("the session has ended; log in again", code="session_ended")
    presented = _digest(match.group(2))
    who = actor(session.user_id)
    if not hmac.compare_digest(presented, session.secret_sha256):
        # The replaced secret is told apart in the audit only: any other one is as much a copy.
        spent = session.previous_sha256 is not None and hmac.compare_digest(presented, session.previous_sha256)
        _reused(session, "refresh_reuse" if spent else "refresh_unknown_secret", now, who)
    mint = reload(session)
    secret = secrets.token_urlsafe(32)
    event = audit.event(REFRESH_ACTION, clinic_id=session.clinic_id, actor=who, at=now, session=session.session_id)
    if not sessions_repo.rotate(session, _digest(secret), at=now, event=event):
        # Another refresh with this same token won the race (or a logout ended the session): two
        # holders of one token means a copy, so the session ends unless it has ended already.
        current = sessions_repo.get(session.session_id)
        if current is None or current.ended_at is not None:
            raise Unauthenticated("the session has ended; log in again", code="session_ended")
        _reused(current, "refresh_race", now, who)
    return Tokens(mint(), f"{session.session_id}.{secret}", _remaining(session, now))


def end(principal: tokens.Principal, *, now: datetime | None = None) -> bool:
    """Logs out: the caller's session ends (its refresh token stops working). False if it had ended already."""
    now = now or datetime.now(UTC)
    if principal.session_id is None:
        raise InvalidInput("this access token belongs to no session (it was not issued by a login)")
    session = sessions_repo.get(principal.session_id)
    if session is None or (session.clinic_id, session.user_id) != (principal.clinic_id, principal.user_id):
        return False  # nothing of the caller's to end
    actor = f"patient:{principal.patient_id}" if principal.patient_id else audit.user_actor(principal.user_id)
    return _end(session, "logout", now, actor)


def _reused(session: Session, reason: str, now: datetime, actor: str) -> NoReturn:
    """Ends the session because a refresh token that is not its current one was presented (audited)."""
    _end(session, reason, now, actor, outcome="failure")
    raise Unauthenticated(
        "this refresh token was already used, so the session has ended; log in again", code="refresh_token_reused"
    )


def finish(session: Session, reason: str, now: datetime, actor: str, *, outcome: str = "success") -> bool:
    """Ends `session` for `reason` (audited); False when it had ended already."""
    return _end(session, reason, now, actor, outcome=outcome)


def _end(session: Session, reason: str, now: datetime, actor: str, *, outcome: str = "success") -> bool:
    event = audit.event(
        LOGOUT_ACTION, clinic_id=session.clinic_id, actor=actor, at=now, outcome=outcome,
        session=session.session_id, reason=reason,
    )  # fmt: skip
    return sessions_repo.end(session.session_id, reason, at=now, event=event)


def _tokens(user: StaffUser, session: Session, secret: str, now: datetime) -> Tokens:
    return Tokens(_access(user, session, now), f"{session.session_id}.{secret}", _remaining(session, now))


def _remaining(session: Session, now: datetime) -> int:
    return int((session.expires_at - now).total_seconds())


def _access(user: StaffUser, session: Session, now: datetime) -> tokens.AccessToken:
    return tokens.issue(
        user_id=user.user_id,
        clinic_id=user.clinic_id,
        role=user.role,
        settings=get_settings(),
        now=now,
        session_id=session.session_id,
        org_id=user.org_id,
        org_admin=user.org_admin,
    )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_live(principal: tokens.Principal, *, now: datetime) -> None:
    """An access token works only while its session does: a logout or an ended session stops it at once
    (one consistent GetItem per request; tokens minted by tools carry no session and are not checked)."""
    if principal.session_id is None:
        return
    session = sessions_repo.get(principal.session_id)
    if session is None or session.ended_at is not None or now >= session.expires_at:
        raise Unauthenticated("the session has ended; log in again", code="session_ended")
    if session.user_id != principal.user_id or session.kind != (PATIENT if principal.patient_id else STAFF):
        # The clinic may differ (switch-clinic keeps the session); the kind may not.
        raise Unauthenticated("the access token is not valid", code="invalid_token")
    last = session.last_activity_at
    if last is None or now - last >= sessions_repo.ACTIVITY_EVERY:
        sessions_repo.touch(session.session_id, now)  # conditional: at most one write a minute per session


SWITCH_ACTION = "auth.switch_clinic"


def switch_clinic(principal: tokens.Principal, clinic_id: str, *, now: datetime | None = None) -> Tokens:
    """New tokens of the caller's session for another clinic the account belongs to (404 otherwise)."""
    now = now or datetime.now(UTC)
    session = sessions_repo.get(principal.session_id) if principal.session_id else None
    if session is None or session.ended_at is not None or session.user_id != principal.user_id:
        raise Unauthenticated("the session has ended; log in again", code="session_ended")
    user = users_repo.get(clinic_id, session.email)
    if user is None or user.user_id != principal.user_id:
        raise NotFound("no such clinic", code="not_found", field="clinic_id")
    secret = secrets.token_urlsafe(32)
    event = audit.event(SWITCH_ACTION, clinic_id=clinic_id, actor=audit.user_actor(user.user_id), at=now,
                        session=session.session_id, previous_clinic=session.clinic_id)  # fmt: skip
    if not sessions_repo.switch_clinic(session, clinic_id, _digest(secret), at=now, event=event):
        raise Unauthenticated("the session has ended; log in again", code="session_ended")
    return _tokens(user, session, secret, now)
