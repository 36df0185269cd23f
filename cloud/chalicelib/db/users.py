"""Staff accounts repository (directory table): one account per email, member of one or more clinics of its
organisation with one role in each.

- `ORG#o` / `USER#uid`: the account (email, name, password hash, organisation-admin flag, memberships
  `{clinic: role}` of its active clinics, TOTP state); gsi1 `EMAIL#email` / `ORG#o`.
- `CLINIC#c` / `MEMBER#uid`: one per clinic the account belongs to (role, active, and the email and name
  copied), so a clinic lists its staff with one Query.
- `EMAIL#email` / `ACCOUNT`: the address claimed by one account (unique across organisations, since
  login is by email); login reads it with a consistent GetItem. Like the login throttle, no clinic is
  known before a login, so this partition does not begin with `CLINIC#`.
Services write these items through `audit.change` (one transaction with the audit entry).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from chalicelib.db import keys, store
from chalicelib.models import Page, StaffUser

ACCOUNT_SK = "ACCOUNT"


class UserItem(store.DirectoryItem):
    """The account: `ORG#o` / `USER#uid`."""

    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    user_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    password_hash = UnicodeAttribute()
    org_admin = BooleanAttribute(default=False)
    memberships = JSONAttribute(default=dict)  # {clinic_id: role}, active memberships only
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    # TOTP (services/totp.py): the pending secret until confirmed, then the secret; never logged or audited.
    totp_pending = UnicodeAttribute(null=True)
    totp_secret = UnicodeAttribute(null=True)
    totp_last_step = NumberAttribute(null=True)  # the last time step a code was accepted for (no replay)
    recovery_sha256 = ListAttribute(of=UnicodeAttribute, null=True)


class MemberItem(store.DirectoryItem):
    """A clinic's staff member: `CLINIC#c` / `MEMBER#uid`."""

    class Meta:
        table_name = store.UNBOUND

    user_id = UnicodeAttribute()
    clinic_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    role = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class EmailItem(store.DirectoryItem):
    """`EMAIL#email` / `ACCOUNT`: which account holds this address."""

    class Meta:
        table_name = store.UNBOUND

    user_id = UnicodeAttribute()
    org_id = UnicodeAttribute()


ITEMS = (UserItem, MemberItem, EmailItem)


class Account(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    org_id: str
    email: str
    name: str = ""
    password_hash: str = Field(repr=False, exclude=True)
    org_admin: bool = False
    memberships: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    totp_enabled: bool = False

    def as_staff(self, clinic_id: str) -> StaffUser | None:
        """The account acting in `clinic_id`; None when it is not an active member there."""
        role = self.memberships.get(clinic_id)
        if role is None:
            return None
        return StaffUser(
            user_id=self.user_id,
            clinic_id=clinic_id,
            email=self.email,
            role=role,
            password_hash=self.password_hash,
            active=True,
            created_at=self.created_at,
            name=self.name,
            org_id=self.org_id,
            org_admin=self.org_admin,
        )


class Member(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    clinic_id: str
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime
    updated_at: datetime


def org_pk(org_id: str) -> str:
    return f"ORG#{keys.segment(org_id)}"


def user_sk(user_id: str) -> str:
    return f"USER#{keys.segment(user_id)}"


def member_sk(user_id: str) -> str:
    return f"MEMBER#{keys.segment(user_id)}"


def email_pk(email: str) -> str:
    return f"EMAIL#{keys.segment(email)}"


# Items for the services' transactions.


def account_item(account: Account, *, at: datetime) -> UserItem:
    return UserItem(
        org_pk(account.org_id),
        user_sk(account.user_id),
        gsi1pk=email_pk(account.email),
        gsi1sk=org_pk(account.org_id),
        user_id=account.user_id,
        org_id=account.org_id,
        email=account.email,
        name=account.name,
        password_hash=account.password_hash,
        org_admin=account.org_admin,
        memberships=dict(account.memberships),
        created_at=account.created_at,
        updated_at=at,
    )


def account_ref(org_id: str, user_id: str) -> UserItem:
    """The account's key, for an update in a transaction."""
    return UserItem(org_pk(org_id), user_sk(user_id))


def member_item(
    account: Account, clinic_id: str, role: str, *, active: bool, created_at: datetime, at: datetime
) -> MemberItem:
    return MemberItem(
        keys.clinic_pk(clinic_id),
        member_sk(account.user_id),
        user_id=account.user_id,
        clinic_id=clinic_id,
        org_id=account.org_id,
        email=account.email,
        name=account.name,
        role=role,
        active=active,
        created_at=created_at,
        updated_at=at,
    )


def member_ref(clinic_id: str, user_id: str) -> MemberItem:
    return MemberItem(keys.clinic_pk(clinic_id), member_sk(user_id))


def email_item(account: Account) -> EmailItem:
    return EmailItem(email_pk(account.email), ACCOUNT_SK, user_id=account.user_id, org_id=account.org_id)


def email_is_free() -> Any:
    return EmailItem.pk.does_not_exist()


def email_holds(user_id: str) -> Any:
    """The claim exists and names `user_id` (an existing account being rewritten)."""
    return EmailItem.user_id == user_id


def account_exists() -> Any:
    return UserItem.pk.exists()


def member_exists() -> Any:
    return MemberItem.pk.exists()


# Reads.


def _account(row: UserItem) -> Account:
    return Account(
        user_id=row.user_id,
        org_id=row.org_id,
        email=row.email,
        name=row.name or "",
        password_hash=row.password_hash,
        org_admin=bool(row.org_admin),
        memberships=dict(row.memberships or {}),
        created_at=row.created_at,
        totp_enabled=row.totp_secret is not None,
    )


def account_row(org_id: str, user_id: str) -> UserItem | None:
    return store.get(UserItem, org_pk(org_id), user_sk(user_id))


def get_account(org_id: str, user_id: str) -> Account | None:
    row = account_row(org_id, user_id)
    return None if row is None else _account(row)


def account_by_email(email: str) -> Account | None:
    """The account holding `email` (normalised), read consistently: claim, then account."""
    claim = store.get(EmailItem, email_pk(email), ACCOUNT_SK)
    return None if claim is None else get_account(claim.org_id, claim.user_id)


def find_by_email(email: str) -> list[StaffUser]:
    """The account of this email in each clinic it is an active member of."""
    account = account_by_email(email)
    if account is None:
        return []
    return [user for clinic in sorted(account.memberships) if (user := account.as_staff(clinic))]


def get(clinic_id: str, email: str) -> StaffUser | None:
    """The account of `email` acting in `clinic_id` (None if it is not an active member there)."""
    account = account_by_email(email)
    return None if account is None else account.as_staff(clinic_id)


def _member(row: MemberItem) -> Member:
    return Member(
        id=row.user_id,
        clinic_id=row.clinic_id,
        email=row.email,
        name=row.name or "",
        role=row.role,
        active=bool(row.active),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def member_row(clinic_id: str, user_id: str) -> MemberItem | None:
    return store.get(MemberItem, keys.clinic_pk(clinic_id), member_sk(user_id))


def member(clinic_id: str, user_id: str) -> Member | None:
    row = store.get(MemberItem, keys.clinic_pk(clinic_id), member_sk(user_id))
    return None if row is None else _member(row)


def members(clinic_id: str, *, limit: int, next_token: str | None) -> Page[Member]:
    found = store.query_page(
        MemberItem, keys.clinic_pk(clinic_id), prefix="MEMBER#", limit=limit, next_token=next_token
    )
    return Page[Member](items=[_member(row) for row in found.items], next=found.next)


def set_password_hash(user: StaffUser, password_hash: str, *, at: datetime) -> None:
    """Replaces the stored hash (a rehash after a parameter upgrade, at login)."""
    store.bound()
    if user.org_id is None:
        return
    account_ref(user.org_id, user.user_id).update(
        actions=[UserItem.password_hash.set(password_hash), UserItem.updated_at.set(at)],
        condition=UserItem.pk.exists(),
    )
