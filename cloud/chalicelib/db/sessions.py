"""Staff sessions repository: one item per login holding its current refresh token's hash; expired by TTL.

Every write goes in one transaction with its audit entry. Sessions are found by id (the refresh
token carries it), so their partition does not begin with `CLINIC#`; the item names its clinic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.db import audit, store
from chalicelib.models import AuditEvent


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
    end_reason = UnicodeAttribute(null=True)  # logout | refresh_reuse


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


def _pk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def create(session: Session, *, at: datetime, event: AuditEvent) -> None:
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
