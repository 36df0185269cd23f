"""Patient portal accounts and invites repository (directory table, partition `CLINIC#c`).

- `INVITE#{sha256 of the token}`: one invite (the token itself is never stored). `gsi1` `INVITE#{sha256}` /
  `INVITE` finds it from the token alone (the invite link carries no clinic).
- `PORTAL#{patient}`: the patient's portal record: the current invite's hash, and once registered the
  account (email, password hash). `gsi1` `PORTAL_EMAIL#{email}` / `CLINIC#c#PORTAL#{patient}` finds the
  accounts of an email at login (no clinic is known before login).
- `PORTAL_EMAIL#{email}`: names the patient holding this email in the clinic, written with a does-not-exist
  condition in the registering transaction (one patient account per email and clinic).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store


class InviteItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `INVITE#{sha256}`."""

    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    email = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute()
    used_at = UTCDateTimeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)


class PortalItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `PORTAL#{patient}`."""

    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    current_invite = UnicodeAttribute(null=True)  # sha256 of the live invite's token
    email = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute(null=True)
    registered_at = UTCDateTimeAttribute(null=True)


class PortalEmailItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `PORTAL_EMAIL#{email}` → the patient whose account uses it."""

    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()


ITEMS = (InviteItem, PortalItem, PortalEmailItem)


@dataclass(frozen=True)
class Invite:
    sha256: str
    clinic_id: str
    patient_id: str
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Account:
    clinic_id: str
    patient_id: str
    current_invite: str | None
    email: str | None
    password_hash: str | None

    @property
    def registered(self) -> bool:
        return self.password_hash is not None


def invite_sk(sha256: str) -> str:
    return f"INVITE#{keys.segment(sha256)}"


def portal_sk(patient_id: str) -> str:
    return f"PORTAL#{keys.segment(patient_id)}"


def email_sk(email: str) -> str:
    return f"PORTAL_EMAIL#{keys.segment(email)}"


def _email_index(email: str) -> str:
    return f"PORTAL_EMAIL#{keys.segment(email)}"


def _invite(row: InviteItem) -> Invite:
    return Invite(
        sha256=row.sk.removeprefix("INVITE#"), clinic_id=row.clinic_id, patient_id=row.patient_id, email=row.email,
        created_at=row.created_at, expires_at=row.expires_at, used_at=row.used_at, revoked_at=row.revoked_at,
    )  # fmt: skip


def _account(row: PortalItem) -> Account:
    return Account(row.clinic_id, row.patient_id, row.current_invite, row.email, row.password_hash)


# --- reading ---------------------------------------------------------------------------------------------


def account(clinic_id: str, patient_id: str) -> Account | None:
    row = store.get(PortalItem, keys.clinic_pk(clinic_id), portal_sk(patient_id))
    return None if row is None else _account(row)


def invite(clinic_id: str, sha256: str) -> Invite | None:
    row = store.get(InviteItem, keys.clinic_pk(clinic_id), invite_sk(sha256))
    return None if row is None else _invite(row)


def find_invite(sha256: str) -> Invite | None:
    """The invite whose token hashes to `sha256`, from any clinic (one Query of `gsi1`), then read
    consistently from its clinic's partition."""
    found = store.query_page(InviteItem, f"INVITE#{keys.segment(sha256)}", index="gsi1", limit=1, next_token=None)
    if not found.items:
        return None
    return invite(found.items[0].clinic_id, sha256)


def accounts_by_email(email: str, *, limit: int = 10) -> list[Account]:
    """The registered patient accounts using `email`, in every clinic (one Query of `gsi1`)."""
    found = store.query_page(PortalItem, _email_index(email), index="gsi1", limit=limit, next_token=None)
    return [_account(row) for row in found.items if row.password_hash is not None]


def email_holder(clinic_id: str, email: str) -> str | None:
    row = store.get(PortalEmailItem, keys.clinic_pk(clinic_id), email_sk(email))
    return None if row is None else row.patient_id


# --- writing (inside a change: services/patient_auth.py) ------------------------------------------------


def add_invite(change: Any, invite: Invite, *, created_by: str, previous: Account | None) -> None:
    """The new invite; the patient's portal record points at it; the older invite, if any, is revoked.
    Conditions: the portal record is as read (no other invite slipped in) and has no account yet."""
    pk = keys.clinic_pk(invite.clinic_id)
    change.save(
        InviteItem(
            pk, invite_sk(invite.sha256), gsi1pk=f"INVITE#{keys.segment(invite.sha256)}", gsi1sk="INVITE",
            clinic_id=invite.clinic_id, patient_id=invite.patient_id, email=invite.email,
            created_at=invite.created_at, created_by=created_by, expires_at=invite.expires_at,
        ),
        condition=InviteItem.pk.does_not_exist(),
    )  # fmt: skip
    if previous is None:
        change.save(
            PortalItem(pk, portal_sk(invite.patient_id), clinic_id=invite.clinic_id, patient_id=invite.patient_id,
                       current_invite=invite.sha256),
            condition=PortalItem.pk.does_not_exist(),
        )  # fmt: skip
        return
    same = (
        PortalItem.current_invite.does_not_exist()
        if previous.current_invite is None
        else PortalItem.current_invite == previous.current_invite
    )
    change.update(
        PortalItem(pk, portal_sk(invite.patient_id)),
        actions=[PortalItem.current_invite.set(invite.sha256)],
        condition=PortalItem.pk.exists() & same & PortalItem.password_hash.does_not_exist(),
    )
    if previous.current_invite is not None:
        change.update(
            InviteItem(pk, invite_sk(previous.current_invite)),
            actions=[InviteItem.revoked_at.set(invite.created_at)],
            condition=InviteItem.pk.exists() & InviteItem.used_at.does_not_exist(),
        )


def register(change: Any, invite: Invite, *, email: str, password_hash: str, at: datetime) -> None:
    """Spends the invite and opens the account: the invite must be unused, unrevoked, unexpired and still the
    patient's current one, the email free in the clinic, the patient without an account."""
    pk = keys.clinic_pk(invite.clinic_id)
    change.update(
        InviteItem(pk, invite_sk(invite.sha256)),
        actions=[InviteItem.used_at.set(at)],
        condition=InviteItem.pk.exists()
        & InviteItem.used_at.does_not_exist()
        & InviteItem.revoked_at.does_not_exist()
        & (InviteItem.expires_at > at),
    )
    change.save(
        PortalEmailItem(pk, email_sk(email), patient_id=invite.patient_id),
        condition=PortalEmailItem.pk.does_not_exist(),
    )
    change.update(
        PortalItem(pk, portal_sk(invite.patient_id)),
        actions=[
            PortalItem.email.set(email),
            PortalItem.password_hash.set(password_hash),
            PortalItem.registered_at.set(at),
            PortalItem.gsi1pk.set(_email_index(email)),
            PortalItem.gsi1sk.set(f"{pk}#PORTAL#{keys.segment(invite.patient_id)}"),
        ],
        condition=PortalItem.pk.exists()
        & (PortalItem.current_invite == invite.sha256)
        & PortalItem.password_hash.does_not_exist(),
    )


def set_password_hash(account: Account, password_hash: str) -> None:
    """A rehash at login (the hasher's parameters moved on); the account must still be registered."""
    store.bound()
    PortalItem(keys.clinic_pk(account.clinic_id), portal_sk(account.patient_id)).update(
        actions=[PortalItem.password_hash.set(password_hash)], condition=PortalItem.password_hash.exists()
    )
