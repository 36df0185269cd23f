"""Staff users repository: one item per clinic and email; the `by_email` index answers login."""

from __future__ import annotations

from datetime import datetime

from pynamodb.transactions import TransactWrite

from chalicelib.db import audit, keys
from chalicelib.db.tables import UserItem, bound, connection
from chalicelib.models import AuditEvent, StaffUser


def _from_item(row: UserItem) -> StaffUser:
    return StaffUser(
        user_id=row.user_id,
        clinic_id=row.clinic_id,
        email=row.email,
        role=row.role,
        password_hash=row.password_hash,
        active=bool(row.active),
        created_at=row.created_at,
    )


def find_by_email(email: str) -> list[StaffUser]:
    """Every account with this (normalised) email; more than one means the login is ambiguous."""
    bound()
    return [_from_item(row) for row in UserItem.by_email.query(email, limit=5)]


def get(clinic_id: str, email: str) -> StaffUser | None:
    bound()
    try:
        return _from_item(UserItem.get(keys.clinic_pk(clinic_id), keys.user_sk(email), consistent_read=True))
    except UserItem.DoesNotExist:
        return None


def save(user: StaffUser, *, at: datetime, event: AuditEvent) -> None:
    """Creates or replaces the user together with its audit entry."""
    bound()
    row = UserItem(
        keys.clinic_pk(user.clinic_id),
        keys.user_sk(user.email),
        email=user.email,
        user_id=user.user_id,
        clinic_id=user.clinic_id,
        role=user.role,
        password_hash=user.password_hash,
        active=user.active,
        created_at=user.created_at,
        updated_at=at,
    )
    with TransactWrite(connection=connection()) as tx:
        tx.save(row)
        tx.save(audit.to_item(event))


def set_password_hash(user: StaffUser, password_hash: str, *, at: datetime) -> None:
    """Replaces the stored hash (a rehash after a parameter upgrade, at login)."""
    bound()
    UserItem(keys.clinic_pk(user.clinic_id), keys.user_sk(user.email)).update(
        actions=[UserItem.password_hash.set(password_hash), UserItem.updated_at.set(at)],
        condition=UserItem.pk.exists(),
    )
