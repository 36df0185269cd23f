"""A user's sessions as seed 003 §6.4 has them: listed (device, IP, last activity) and ended on demand.

An admin lists and ends the sessions of a user of its clinic (force logout); a user lists and ends its
own. An ended session's refresh token and access tokens stop working at once (`sessions.check_live`).
Deactivation ends the user's sessions in that clinic; an admin's password reset ends all of them, and
a password change ends all but the caller's own. Every end is audited (one entry naming the sessions)
and `user.sessions_ended` is emitted when an admin or an account change ends them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.db import sessions as sessions_repo
from chalicelib.db import store
from chalicelib.db import users as users_repo
from chalicelib.db.sessions import SessionInfo
from chalicelib.errors import NotFound
from chalicelib.models import Page
from chalicelib.services import audit
from chalicelib.services.scope import Scope

ENDED_ACTION = "user.sessions_ended"
OWN_ENDED_ACTION = "auth.session_ended"
_BATCH = 50  # sessions ended per transaction (with the audit entry and the event: well under 100 items)
_ATTEMPTS = 3  # a session ending concurrently (logout) cancels the transaction: list again and retry


def shown(info: SessionInfo, now: datetime) -> SessionInfo:
    """A session past its lifetime is shown as ended (`expired`) even before TTL deletes it."""
    if info.ended_at is None and now >= info.expires_at:
        return info.model_copy(update={"ended_at": info.expires_at, "end_reason": "expired"})
    return info


def list_for_member(scope: Scope, user_id: str, *, limit: int, next_token: str | None) -> Page[SessionInfo]:
    """An admin's view: the sessions of a user of its clinic (404 for anyone else)."""
    _member(scope, user_id)
    return _page(user_id, limit, next_token)


def list_own(scope: Scope, *, limit: int, next_token: str | None) -> Page[SessionInfo]:
    return _page(scope.user_id or "", limit, next_token)


def _page(user_id: str, limit: int, next_token: str | None) -> Page[SessionInfo]:
    now = datetime.now(UTC)
    page = sessions_repo.for_user(user_id, limit=limit, next_token=next_token)
    return Page[SessionInfo](items=[shown(info, now) for info in page.items], next=page.next)


def end_for_member(scope: Scope, user_id: str, *, now: datetime | None = None) -> list[str]:
    """Force logout: every live session of a user of the admin's clinic ends. Returns their ids."""
    _member(scope, user_id)
    return end_all(scope, user_id, "ended_by_admin", now=now or datetime.now(UTC))


def end_own(scope: Scope, session_id: str, *, now: datetime | None = None) -> bool:
    """Ends one of the caller's own sessions (404 for anyone else's); False when it had ended already."""
    now = now or datetime.now(UTC)
    session = sessions_repo.get(session_id) if session_id.isalnum() and len(session_id) <= 64 else None
    if session is None or session.user_id != scope.user_id:
        raise NotFound("no session with this id among yours", code="not_found", field="session_id")
    event = audit.entry(scope, OWN_ENDED_ACTION, at=now, resource="session", resource_id=session_id,
                        reason="ended_by_user")  # fmt: skip
    return sessions_repo.end(session_id, "ended_by_user", at=now, event=event)


def end_all(
    scope: Scope,
    user_id: str,
    reason: str,
    *,
    now: datetime,
    keep: str | None = None,
    clinic_id: str | None = None,
) -> list[str]:
    """Ends the user's live sessions (but `keep`; only those in `clinic_id` when given), in transactions of
    at most `_BATCH` with one audit entry naming them and one `user.sessions_ended` event each."""
    ended: list[str] = []
    for _ in range(_ATTEMPTS):
        live = [
            info.session_id
            for info in _live(user_id, now)
            if info.session_id != keep and (clinic_id is None or info.clinic_id == clinic_id)
        ]
        if not live:
            return ended
        try:
            for start in range(0, len(live), _BATCH):
                batch = live[start : start + _BATCH]
                with audit.change(scope, ENDED_ACTION, resource="user", resource_id=user_id, at=now, reason=reason,
                                  sessions=",".join(batch), count=str(len(batch))) as change:  # fmt: skip
                    for session_id in batch:
                        sessions_repo.add_end(change, session_id, reason, at=now)
                    change.emit(ENDED_ACTION, user_id=user_id)
                ended += batch
        except store.ConditionFailed:
            continue  # one of them ended meanwhile: list the live ones again
    return ended


def _live(user_id: str, now: datetime) -> list[SessionInfo]:
    found: list[SessionInfo] = []
    token: str | None = None
    while True:
        page = sessions_repo.for_user(user_id, limit=100, next_token=token, live_only=True)
        found += [info for info in page.items if now < info.expires_at]
        token = page.next
        if token is None:
            return found


def on_deactivated(scope: Scope, user_id: str, now: datetime) -> None:
    """`users.ON_DEACTIVATED` hook: the user's sessions in the clinic it lost end."""
    end_all(scope, user_id, "deactivated", now=now, clinic_id=scope.clinic_id)


def _member(scope: Scope, user_id: str) -> None:
    if users_repo.member_row(scope.clinic_id, user_id) is None:
        raise NotFound("no user with this id in your clinic", code="not_found", field="user_id")
