"""Staff users repository: one item per clinic and email; the `by_email` index answers login."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import audit, keys, store
from chalicelib.models import AuditEvent, StaffUser


class UserItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `USER#{email}`; gsi1 `EMAIL#{email}` / `CLINIC#c` answers login."""

    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    email = UnicodeAttribute()
    user_id = UnicodeAttribute()
    clinic_id = UnicodeAttribute()
    role = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


ITEMS = (UserItem,)


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
    store.bound()
    return [_from_item(row) for row in UserItem.gsi1.query(f"EMAIL#{email}", limit=5)]


def get(clinic_id: str, email: str) -> StaffUser | None:
    store.bound()
    try:
        return _from_item(UserItem.get(keys.clinic_pk(clinic_id), keys.user_sk(email), consistent_read=True))
    except UserItem.DoesNotExist:
        return None


def save(user: StaffUser, *, at: datetime, event: AuditEvent) -> None:
    """Creates or replaces the user together with its audit entry."""
    store.bound()
    row = UserItem(
        keys.clinic_pk(user.clinic_id),
        keys.user_sk(user.email),
        gsi1pk=f"EMAIL#{user.email}",
        gsi1sk=keys.clinic_pk(user.clinic_id),
        email=user.email,
        user_id=user.user_id,
        clinic_id=user.clinic_id,
        role=user.role,
        password_hash=user.password_hash,
        active=user.active,
        created_at=user.created_at,
        updated_at=at,
    )
    with store.unit() as unit:
        unit.save(row)
        unit.save(audit.to_item(event))


def set_password_hash(user: StaffUser, password_hash: str, *, at: datetime) -> None:
    """Replaces the stored hash (a rehash after a parameter upgrade, at login)."""
    store.bound()
    UserItem(keys.clinic_pk(user.clinic_id), keys.user_sk(user.email)).update(
        actions=[UserItem.password_hash.set(password_hash), UserItem.updated_at.set(at)],
        condition=UserItem.pk.exists(),
    )
