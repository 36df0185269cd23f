"""Events outbox repository: every state change, written in the transaction that makes it (ids, no PHI).

Table `events`: partition `CLINIC#c#EVENTS`, sort key the event id (`{time}-{random}`, so ids sort by
time). `GET /events?after=ID` is a Query for ids greater than ID. Items expire after
`RETENTION_DAYS` (TTL): a later delivery issue reads them long before.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from pynamodb.attributes import JSONAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.models import DomainEvent

RETENTION_DAYS = 30


class EventItem(store.Item):
    TABLE = "events"

    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    type = UnicodeAttribute()
    subject = JSONAttribute()
    actor = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


ITEMS = (EventItem,)


def partition(clinic_id: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#EVENTS"


def new_id(at: datetime) -> str:
    return f"{keys.sortable_time(at)}-{secrets.token_hex(6)}"


def to_item(event: DomainEvent) -> EventItem:
    return EventItem(
        partition(event.clinic_id),
        event.id,
        clinic_id=event.clinic_id,
        type=event.type,
        subject=dict(event.subject),
        actor=event.actor,
        at=event.at,
        expires_at=event.at + timedelta(days=RETENTION_DAYS),
    )


def _from_item(row: EventItem) -> DomainEvent:
    return DomainEvent(
        id=row.sk, clinic_id=row.clinic_id, type=row.type, subject=row.subject or {}, actor=row.actor, at=row.at
    )


def after(clinic_id: str, after_id: str | None, *, limit: int, next_token: str | None) -> store.Page[DomainEvent]:
    """Events with an id greater than `after_id` (all retained ones without it), oldest first."""
    # Ids have one length, so every id greater than `after_id` sorts at or after `after_id + " "`.
    between = (after_id + " ", "~") if after_id else None
    found = store.query_page(EventItem, partition(clinic_id), between=between, limit=limit, next_token=next_token)
    return store.Page([_from_item(row) for row in found.items], found.next)
