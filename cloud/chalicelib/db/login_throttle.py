"""Login attempts per email fingerprint and fixed window: one counter item per (email, window), expired by TTL.

No clinic is known before a login succeeds, so these keys are the one partition that does not
begin with `CLINIC#`. The email itself is never stored, only its fingerprint.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import NumberAttribute, TTLAttribute

from chalicelib.db import keys, store


class LoginThrottleItem(store.Item):
    TABLE = "login_throttle"

    class Meta:
        table_name = store.UNBOUND

    attempts = NumberAttribute(default=0)
    expires_at = TTLAttribute()


ITEMS = (LoginThrottleItem,)


def _key(fingerprint: str, window: int) -> tuple[str, str]:
    return f"LOGIN#{keys.segment(fingerprint)}", f"WINDOW#{window}"


def count_attempt(fingerprint: str, window: int, *, expires_at: datetime) -> int:
    """Adds one attempt to the window's counter (created at 1) and returns the count, atomically."""
    store.bound()
    row = LoginThrottleItem(*_key(fingerprint, window))
    row.update(actions=[LoginThrottleItem.attempts.add(1), LoginThrottleItem.expires_at.set(expires_at)])
    return int(row.attempts)


def forget(fingerprint: str, window: int) -> None:
    """A successful login clears its window's count (an update, not a delete: the API's role may
    only update items)."""
    store.bound()
    LoginThrottleItem(*_key(fingerprint, window)).update(actions=[LoginThrottleItem.attempts.set(0)])
