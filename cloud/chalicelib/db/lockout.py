"""Failed-password counters (directory table): `LOCKOUT#{email fingerprint}` / `LOCKOUT`, one per email.

An email belongs to at most one account, so this is a counter per account; an unknown email gets one
too, so a lock says nothing about whether the account exists. The email itself is never stored. Like
the login throttle, no clinic is known before a login, so this partition does not begin with `CLINIC#`.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import NumberAttribute, UTCDateTimeAttribute
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store

SK = "LOCKOUT"


class LockoutItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    failures = NumberAttribute(default=0)
    since = UTCDateTimeAttribute(null=True)  # the first failure counted
    locked_until = UTCDateTimeAttribute(null=True)


ITEMS = (LockoutItem,)


def ref(fingerprint: str) -> LockoutItem:
    return LockoutItem(f"LOCKOUT#{keys.segment(fingerprint)}", SK)


def get(fingerprint: str) -> LockoutItem | None:
    return store.get(LockoutItem, f"LOCKOUT#{keys.segment(fingerprint)}", SK)


def add_failure(fingerprint: str, *, now: datetime, restart: bool) -> int:
    """One more failure (or the first of a new count when `restart`); the count, atomically."""
    store.bound()
    row = ref(fingerprint)
    if restart:
        row.update(actions=[LockoutItem.failures.set(1), LockoutItem.since.set(now)])
    else:
        row.update(actions=[LockoutItem.failures.add(1)])
    return int(row.failures)


def lock(fingerprint: str, *, until: datetime) -> None:
    store.bound()
    ref(fingerprint).update(actions=[LockoutItem.locked_until.set(until), LockoutItem.failures.set(0)])


def reset_actions() -> list[Action]:
    return [LockoutItem.failures.set(0), LockoutItem.locked_until.remove(), LockoutItem.since.remove()]


def reset(fingerprint: str) -> None:
    store.bound()
    ref(fingerprint).update(actions=reset_actions())
