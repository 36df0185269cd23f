"""Sessions of staff users (seed 003 §6.4): GET /users/{user_id}/sessions, POST /users/{user_id}/sessions/end
(admin force logout), GET /auth/sessions and POST /auth/sessions/{session_id}/end (one's own)."""

from __future__ import annotations

from datetime import datetime

from chalice import Blueprint
from pydantic import BaseModel

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import Answer, RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.db.sessions import SessionInfo
from chalicelib.models import Page
from chalicelib.services import user_sessions
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_activity_at: datetime | None = None
    ip: str | None = None
    device: str | None = None  # the login's user agent
    expires_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None  # logout, ended_by_admin, ended_by_user, password_reset, deactivated, expired...
    current: bool = False  # the session of the caller's token

    @classmethod
    def of(cls, info: SessionInfo, current: str | None) -> SessionOut:
        return cls(
            id=info.session_id,
            created_at=info.created_at,
            last_activity_at=info.last_activity_at,
            ip=info.ip,
            device=info.device,
            expires_at=info.expires_at,
            ended_at=info.ended_at,
            end_reason=info.end_reason,
            current=info.session_id == current,
        )


class EndSessions(RequestModel):
    """No options yet: every live session of the user ends."""


class EndedSessions(BaseModel):
    status: str
    ended: int


def _page(page: Page[SessionInfo], current: str | None) -> Page[SessionOut]:
    return Page[SessionOut](items=[SessionOut.of(info, current) for info in page.items], next=page.next)


@endpoint(bp, "GET", "/users/{user_id}/sessions", permission=Permission.USERS_MANAGE, query=PageQuery,
          response=Page[SessionOut])  # fmt: skip
def list_user_sessions(call: Call, user_id: str) -> Page[SessionOut]:
    """A user's sessions, newest first (device, IP, last activity, how they ended)."""
    page = user_sessions.list_for_member(call.scope, user_id, limit=call.query.limit, next_token=call.query.next)
    return _page(page, call.scope.session_id)


@endpoint(bp, "POST", "/users/{user_id}/sessions/end", permission=Permission.USERS_MANAGE, body=EndSessions,
          response=EndedSessions)  # fmt: skip
def end_user_sessions(call: Call, user_id: str) -> EndedSessions:
    """Force logout: every live session of the user ends; its tokens stop working at once."""
    ended = user_sessions.end_for_member(call.scope, user_id)
    return EndedSessions(status="sessions_ended", ended=len(ended))


@endpoint(bp, "GET", "/auth/sessions", permission=Permission.SELF_MANAGE, query=PageQuery, response=Page[SessionOut])
def list_own_sessions(call: Call) -> Page[SessionOut]:
    """The caller's own sessions, newest first; `current` marks the one of this token."""
    page = user_sessions.list_own(call.scope, limit=call.query.limit, next_token=call.query.next)
    return _page(page, call.scope.session_id)


@endpoint(bp, "POST", "/auth/sessions/{session_id}/end", permission=Permission.SELF_MANAGE, response=Answer)
def end_own_session(call: Call, session_id: str) -> Answer:
    """Ends one of the caller's own sessions (e.g. a forgotten login on another computer)."""
    ended = user_sessions.end_own(call.scope, session_id)
    return Answer(status="ended" if ended else "already_ended")
