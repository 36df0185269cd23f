"""TOTP state of staff accounts (the `ORG#o` / `USER#uid` item of db/users.py): the sealed pending secret until
confirmed, then the sealed secret, the last accepted time step (no replay) and the recovery codes' SHA-256.

Writes that change the enrolment go into the caller's `audit.change`; accepting a code at login is one
conditional update (the login's own audit entry records the login).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.db import store
from chalicelib.db import users as users_repo
from chalicelib.db.users import UserItem

ITEMS = ()  # the attributes live on db/users.py's UserItem


@dataclass(frozen=True)
class TotpState:
    pending: str | None  # sealed (services/secretbox.py)
    secret: str | None  # sealed
    last_step: int | None
    recovery_sha256: tuple[str, ...]


def state(org_id: str, user_id: str) -> TotpState | None:
    row = users_repo.account_row(org_id, user_id)
    if row is None:
        return None
    return TotpState(
        pending=row.totp_pending,
        secret=row.totp_secret,
        last_step=int(row.totp_last_step) if row.totp_last_step is not None else None,
        recovery_sha256=tuple(str(code) for code in row.recovery_sha256 or ()),
    )


def set_pending(change: Any, org_id: str, user_id: str, sealed: str, *, at: datetime) -> None:
    change.update(
        users_repo.account_ref(org_id, user_id),
        actions=[UserItem.totp_pending.set(sealed), UserItem.updated_at.set(at)],
        condition=UserItem.pk.exists() & UserItem.totp_secret.does_not_exist(),
    )


def confirm(
    change: Any, org_id: str, user_id: str, pending: str, step: int, recovery: list[str], *, at: datetime
) -> None:
    """The pending secret becomes the secret (only if it is still the one the code was checked against)."""
    change.update(
        users_repo.account_ref(org_id, user_id),
        actions=[
            UserItem.totp_secret.set(pending),
            UserItem.totp_pending.remove(),
            UserItem.totp_last_step.set(step),
            UserItem.recovery_sha256.set(recovery),  # type: ignore[arg-type]  # a list of str is what is stored
            UserItem.updated_at.set(at),
        ],
        condition=(UserItem.totp_pending == pending) & UserItem.totp_secret.does_not_exist(),
    )


def clear(change: Any, org_id: str, user_id: str, *, at: datetime) -> None:
    change.update(
        users_repo.account_ref(org_id, user_id),
        actions=[
            UserItem.totp_secret.remove(),
            UserItem.totp_pending.remove(),
            UserItem.totp_last_step.remove(),
            UserItem.recovery_sha256.remove(),
            UserItem.updated_at.set(at),
        ],
        condition=UserItem.pk.exists(),
    )


def use_step(org_id: str, user_id: str, secret: str, step: int) -> bool:
    """Accepts a code of time step `step` once: False when that step (or a later one) was used already."""
    later = UserItem.totp_last_step.does_not_exist() | (UserItem.totp_last_step < step)
    return _conditional(org_id, user_id, [UserItem.totp_last_step.set(step)], (UserItem.totp_secret == secret) & later)


def use_recovery(org_id: str, user_id: str, index: int, digest: str) -> bool:
    """Spends recovery code `index` (its hash must still be there): False when it was spent meanwhile."""
    codes: Any = UserItem.recovery_sha256
    return _conditional(org_id, user_id, [codes[index].remove()], codes[index] == digest)


def _conditional(org_id: str, user_id: str, actions: list[Any], condition: Any) -> bool:
    store.bound()
    try:
        users_repo.account_ref(org_id, user_id).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def carry(item: UserItem) -> UserItem:
    """`item` (a whole account about to be saved over the stored one) keeping the stored TOTP state."""
    stored = users_repo.account_row(item.org_id, item.user_id)
    if stored is not None:
        item.totp_pending, item.totp_secret = stored.totp_pending, stored.totp_secret
        item.totp_last_step, item.recovery_sha256 = stored.totp_last_step, stored.recovery_sha256
    return item
