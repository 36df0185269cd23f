"""Login throttle counters (table login_throttle, expired by TTL): failures per email, attempts per IP and in all.

- `LOGIN#{email fingerprint}` / `FAILURES`: the email's consecutive failed logins and the time its
  next attempt may start. The table has no attribute for that time, so the item's TTL carries it:
  `expires_at` is that time plus `FORGET_AFTER` (a quiet day later the failures are forgotten, and
  DynamoDB deletes the item). Written only conditionally on what was read, so two attempts racing
  on one email cannot both pass.
- `LOGIN_IP#{source ip}` / `WINDOW#n` and `LOGIN_ALL` / `WINDOW#n`: attempts per fixed window,
  counted atomically before the password is checked.

No clinic is known before a login succeeds, so these keys are the one partition that does not
begin with `CLINIC#`. The email itself is never stored, only its fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, TTLAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store


class LoginThrottleItem(store.Item):
    TABLE = "login_throttle"

    class Meta:
        table_name = store.UNBOUND

    attempts = NumberAttribute(default=0)
    expires_at = TTLAttribute()


ITEMS = (LoginThrottleItem,)

FORGET_AFTER = timedelta(hours=24)
FAILURES_SK = "FAILURES"


@dataclass(frozen=True)
class EmailFailures:
    """An email's consecutive failed logins as read, and when its next attempt may start."""

    failures: int
    not_before: datetime | None
    stored: int | None  # the counter as stored (None: no item), which the next write is conditioned on


def _email_key(fingerprint: str) -> tuple[str, str]:
    return f"LOGIN#{keys.segment(fingerprint)}", FAILURES_SK


def ip_scope(source_ip: str) -> str:
    return f"LOGIN_IP#{keys.segment(source_ip)}"


ALL_SCOPE = "LOGIN_ALL"


def email_failures(fingerprint: str, *, now: datetime) -> EmailFailures:
    store.bound()
    try:
        row = LoginThrottleItem.get(*_email_key(fingerprint), consistent_read=True)
    except LoginThrottleItem.DoesNotExist:
        return EmailFailures(0, None, None)
    stored = int(row.attempts)
    if row.expires_at is None or row.expires_at <= now:  # forgotten, only not yet deleted (TTL is lazy)
        return EmailFailures(0, None, stored)
    return EmailFailures(stored, row.expires_at - FORGET_AFTER, stored)


def claim_email_attempt(fingerprint: str, seen: EmailFailures, *, failures: int, not_before: datetime) -> bool:
    """Records this attempt (`failures` from now on, the next one not before `not_before`) if nothing
    changed since `seen` was read; False when a concurrent attempt got there first."""
    store.bound()
    condition: Condition = (
        LoginThrottleItem.pk.does_not_exist() if seen.stored is None else LoginThrottleItem.attempts == seen.stored
    )
    actions: list[Action] = [
        LoginThrottleItem.attempts.set(failures),
        LoginThrottleItem.expires_at.set(not_before + FORGET_AFTER),
    ]
    try:
        LoginThrottleItem(*_email_key(fingerprint)).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def clear_email(fingerprint: str, *, now: datetime) -> None:
    """A successful login forgets the email's failures (an update, not a delete: the API's role may not delete)."""
    store.bound()
    LoginThrottleItem(*_email_key(fingerprint)).update(
        actions=[LoginThrottleItem.attempts.set(0), LoginThrottleItem.expires_at.set(now + FORGET_AFTER)]
    )


def count_attempt(scope: str, window: int, *, expires_at: datetime) -> int:
    """Adds one attempt to the scope's counter for the window (created at 1) and returns the count, atomically."""
    store.bound()
    row = LoginThrottleItem(scope, f"WINDOW#{window}")
    row.update(actions=[LoginThrottleItem.attempts.add(1), LoginThrottleItem.expires_at.set(expires_at)])
    return int(row.attempts)
