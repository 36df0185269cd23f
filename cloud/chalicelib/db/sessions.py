"""Staff sessions repository: one item per login holding its current refresh token's hash; expired by TTL.

Every write goes in one transaction with its audit entry. Sessions are found by id (the refresh
token carries it), so their partition does not begin with `CLINIC#`; the item names its clinic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db import audit, store
from chalicelib.models import AuditEvent, Page


class ByUser(GlobalSecondaryIndex[Any]):
    """A user's sessions, newest first: `USER#{uid}` / `{created}#{session}`."""

    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_pk = UnicodeAttribute(hash_key=True)
    user_sk = UnicodeAttribute(range_key=True)


class SessionItem(store.Item):
    TABLE = "sessions"

    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()  # with clinic_id, the user's key (re-read at every refresh)
    secret_sha256 = UnicodeAttribute()  # the current refresh token's secret, hashed
    previous_sha256 = UnicodeAttribute(null=True)  # the one it replaced: presented again, it ends the session
    created_at = UTCDateTimeAttribute()
    refreshed_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute()
    ended_at = UTCDateTimeAttribute(null=True)
    end_reason = UnicodeAttribute(null=True)  # logout | refresh_reuse | ended_by_admin | ...
    # Listing a user's sessions (seed 003 §6.4): where the login came from and when it was last used.
    by_user = ByUser()
    user_pk = UnicodeAttribute(null=True)  # USER#{uid}
    user_sk = UnicodeAttribute(null=True)  # {created}#{session}
    device = UnicodeAttribute(null=True)  # the login's user agent (at most 256 characters)
    ip = UnicodeAttribute(null=True)  # the login's source IP
    last_activity_at = UTCDateTimeAttribute(null=True)  # updated at most once a minute (touch)
    kind = UnicodeAttribute(null=True)  # "patient" for a patient portal session; absent for staff


ITEMS = (SessionItem,)

SK = "SESSION"


@dataclass(frozen=True)
class Session:
    session_id: str
    clinic_id: str
    user_id: str
    email: str
    secret_sha256: str
    previous_sha256: str | None
    expires_at: datetime
    ended_at: datetime | None
    last_activity_at: datetime | None = None
    kind: str = "staff"  # or "patient" (services/patient_auth.py): each refreshes only at its own route


def _pk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def create(
    session: Session, *, at: datetime, event: AuditEvent, device: str | None = None, ip: str | None = None
) -> None:
    store.bound()
    row = SessionItem(
        _pk(session.session_id),
        SK,
        clinic_id=session.clinic_id,
        user_id=session.user_id,
        email=session.email,
        secret_sha256=session.secret_sha256,
        created_at=at,
        expires_at=session.expires_at,
        user_pk=user_pk(session.user_id),
        user_sk=f"{at.isoformat()}#{session.session_id}",
        device=device[:256] if device else None,
        ip=ip[:64] if ip else None,
        last_activity_at=at,
        kind=None if session.kind == "staff" else session.kind,
    )
    with store.unit() as unit:
        unit.save(row, condition=SessionItem.pk.does_not_exist())
        audit.add(unit, event)


def get(session_id: str) -> Session | None:
    store.bound()
    try:
        row = SessionItem.get(_pk(session_id), SK, consistent_read=True)
    except SessionItem.DoesNotExist:
        return None
    return Session(
        session_id=session_id,
        clinic_id=row.clinic_id,
        user_id=row.user_id,
        email=row.email,
        secret_sha256=row.secret_sha256,
        previous_sha256=row.previous_sha256,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        last_activity_at=row.last_activity_at,
        kind=row.kind or "staff",
    )


def rotate(session: Session, new_sha256: str, *, at: datetime, event: AuditEvent) -> bool:
    """Replaces the refresh secret, only if it is still `session.secret_sha256` and the session has
    not ended (False: a concurrent refresh or logout won)."""
    actions: list[Action] = [
        SessionItem.secret_sha256.set(new_sha256),
        SessionItem.previous_sha256.set(session.secret_sha256),
        SessionItem.refreshed_at.set(at),
    ]
    condition = (SessionItem.secret_sha256 == session.secret_sha256) & SessionItem.ended_at.does_not_exist()
    return _update(
        session.session_id, actions, condition, event,
        lost=lambda now: now is None or now.secret_sha256 != session.secret_sha256 or now.ended_at is not None,
    )  # fmt: skip


def end(session_id: str, reason: str, *, at: datetime, event: AuditEvent) -> bool:
    """Ends the session (no refresh works after); False when it had ended already or does not exist."""
    actions: list[Action] = [SessionItem.ended_at.set(at), SessionItem.end_reason.set(reason)]
    condition = SessionItem.pk.exists() & SessionItem.ended_at.does_not_exist()
    return _update(session_id, actions, condition, event, lost=lambda now: now is None or now.ended_at is not None)


def _update(
    session_id: str,
    actions: list[Action],
    condition: Condition,
    event: AuditEvent,
    *,
    lost: Callable[[Session | None], bool],
) -> bool:
    """The conditional update and its audit entry in one transaction. False when the condition
    failed, which `lost(the session as stored now)` tells apart from a real failure (re-raised)."""
    store.bound()
    try:
        with store.unit() as unit:
            unit.update(SessionItem(_pk(session_id), SK), actions=actions, condition=condition)
            audit.add(unit, event)
    except store.ConditionFailed:
        if lost(get(session_id)):
            return False
        raise
    return True


def switch_clinic(session: Session, clinic_id: str, new_sha256: str, *, at: datetime, event: AuditEvent) -> bool:
    """Moves the live session to another clinic of its user with a new refresh secret (the old one
    counts as replaced). False when the session ended or was refreshed meanwhile."""
    actions: list[Action] = [
        SessionItem.clinic_id.set(clinic_id),
        SessionItem.secret_sha256.set(new_sha256),
        SessionItem.previous_sha256.set(session.secret_sha256),
        SessionItem.refreshed_at.set(at),
    ]
    condition = (SessionItem.secret_sha256 == session.secret_sha256) & SessionItem.ended_at.does_not_exist()
    return _update(session.session_id, actions, condition, event, lost=lambda now: True)


# Listing and ending a user's sessions (services/user_sessions.py).

ACTIVITY_EVERY = timedelta(minutes=1)


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


class SessionInfo(BaseModel):
    """What a user's session list shows: no secret, no hash."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    clinic_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    last_activity_at: datetime | None
    ip: str | None
    device: str | None
    ended_at: datetime | None
    end_reason: str | None


def _info(row: SessionItem) -> SessionInfo:
    return SessionInfo(
        session_id=row.pk.removeprefix("SESSION#"),
        clinic_id=row.clinic_id,
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_activity_at=row.last_activity_at,
        ip=row.ip,
        device=row.device,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


def for_user(user_id: str, *, limit: int, next_token: str | None, live_only: bool = False) -> Page[SessionInfo]:
    """A page of the user's sessions, newest first (one Query on `by_user`)."""
    found = store.query_page(
        SessionItem,
        user_pk(user_id),
        index="by_user",
        newest_first=True,
        limit=limit,
        next_token=next_token,
        filter_condition=SessionItem.ended_at.does_not_exist() if live_only else None,
    )
    return Page[SessionInfo](items=[_info(row) for row in found.items], next=found.next)


def touch(session_id: str, at: datetime) -> bool:
    """Records activity: one conditional write, only when the last one is at least a minute old and the
    session is live (so concurrent requests write at most once a minute). False when nothing was written."""
    store.bound()
    stale = SessionItem.last_activity_at.does_not_exist() | (SessionItem.last_activity_at <= at - ACTIVITY_EVERY)
    try:
        SessionItem(_pk(session_id), SK).update(
            actions=[SessionItem.last_activity_at.set(at)],
            condition=SessionItem.pk.exists() & SessionItem.ended_at.does_not_exist() & stale,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def add_end(change: Any, session_id: str, reason: str, *, at: datetime) -> None:
    """Adds the end of a live session to `change` (a transaction: `audit.change` or `store.unit`)."""
    change.update(
        SessionItem(_pk(session_id), SK),
        actions=[SessionItem.ended_at.set(at), SessionItem.end_reason.set(reason)],
        condition=SessionItem.pk.exists() & SessionItem.ended_at.does_not_exist(),
    )
