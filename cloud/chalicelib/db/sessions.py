"""Staff sessions repository: one item per login holding its current refresh token's hash; expired by TTL.

Every write goes in one transaction with its audit entry, which may only be added, never replace
another (IAM cannot require that condition of the roles: see infra/policies.py). Sessions are found by id (the refresh
token carries it), so their partition does not begin with `CLINIC#`; the item names its clinic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.db import audit
from chalicelib.db.tables import AuditItem, SessionItem, bound, connection
from chalicelib.models import AuditEvent

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
    bound()
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
    with TransactWrite(connection=connection()) as tx:
        tx.save(row, condition=SessionItem.pk.does_not_exist())
        tx.save(audit.to_item(event), condition=AuditItem.pk.does_not_exist())


def get(session_id: str) -> Session | None:
    bound()
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
    bound()
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.update(SessionItem(_pk(session_id), SK), actions=actions, condition=condition)
            tx.save(audit.to_item(event), condition=AuditItem.pk.does_not_exist())
    except TransactWriteError:
        if lost(get(session_id)):
            return False
        raise
    return True
