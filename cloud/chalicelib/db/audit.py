"""Audit log repository: one item per write, patient-record read, denial or auth event; no PHI values.

Table `audit`: partition `CLINIC#c#AUDIT` (or `SYSTEM#AUDIT` when no clinic is known), sort key
`{time}#{id}`. Index `by_resource`: `CLINIC#c#RES#{resource}` / `{resource_id}#{time}#{id}`; index
`by_user`: `CLINIC#c#USER#{user}` / `{time}#{id}`. Every list is a Query on one of them.
Items are only ever put with a does-not-exist condition: the API's role cannot update or delete them.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db import keys, store
from chalicelib.models import AuditEvent


class _ByResource(GlobalSecondaryIndex["AuditItem"]):
    class Meta:
        index_name = "by_resource"
        projection = AllProjection()

    res_pk = UnicodeAttribute(hash_key=True)
    res_sk = UnicodeAttribute(range_key=True)


class _ByUser(GlobalSecondaryIndex["AuditItem"]):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_pk = UnicodeAttribute(hash_key=True)
    user_sk = UnicodeAttribute(range_key=True)


class AuditItem(store.Item):
    TABLE = "audit"

    class Meta:
        table_name = store.UNBOUND

    res_pk = UnicodeAttribute(null=True)
    res_sk = UnicodeAttribute(null=True)
    user_pk = UnicodeAttribute(null=True)
    user_sk = UnicodeAttribute(null=True)
    by_resource = _ByResource()
    by_user = _ByUser()
    actor = UnicodeAttribute()
    entry = JSONAttribute()
    at = UTCDateTimeAttribute()


ITEMS = (AuditItem,)


def partition(clinic_id: str | None) -> str:
    return f"{keys.clinic_pk(clinic_id)}#AUDIT" if clinic_id is not None else "SYSTEM#AUDIT"


def resource_partition(clinic_id: str, resource: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#RES#{keys.segment(resource)}"


def user_partition(clinic_id: str, user_id: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#USER#{keys.segment(user_id)}"


def to_item(event: AuditEvent) -> AuditItem:
    entry_id = event.id or secrets.token_hex(8)
    stamp = f"{keys.sortable_time(event.at)}#{entry_id}"
    stored = event.model_copy(update={"id": entry_id})
    item = AuditItem(
        partition(event.clinic_id),
        stamp,
        actor=event.actor,
        entry=stored.model_dump(mode="json", exclude_none=True),
        at=event.at,
    )
    if event.clinic_id is not None and event.resource:
        item.res_pk = resource_partition(event.clinic_id, event.resource)
        item.res_sk = f"{keys.segment(event.resource_id or '')}#{stamp}"
    user_id = event.actor.removeprefix("user:") if event.actor.startswith("user:") else None
    if event.clinic_id is not None and user_id:
        item.user_pk = user_partition(event.clinic_id, user_id)
        item.user_sk = stamp
    return item


def add(unit: store.Unit, event: AuditEvent) -> None:
    """Adds the entry to a transaction, as a new item only (an entry is never overwritten)."""
    unit.save(to_item(event), condition=AuditItem.pk.does_not_exist())


def record(event: AuditEvent) -> None:
    """Stores one entry on its own (auth events, reads, denials); writes carry theirs in their transaction."""
    store.bound()
    to_item(event).save(condition=AuditItem.pk.does_not_exist())


def from_item(row: AuditItem) -> AuditEvent:
    return AuditEvent.model_validate(row.entry)


def list_day(clinic_id: str | None, day: datetime, limit: int = 100) -> list[AuditEvent]:
    """The events of one UTC day, oldest first (tests and the CLI)."""
    store.bound()
    start = day.strftime("%Y-%m-%dT00:00:00")
    rows = AuditItem.query(partition(clinic_id), AuditItem.sk.between(start, start[:10] + "T99"), limit=limit)
    return [from_item(row) for row in rows]


def page(
    clinic_id: str,
    *,
    resource: str | None,
    resource_id: str | None,
    user_id: str | None,
    start: datetime,
    end: datetime,
    limit: int,
    next_token: str | None,
) -> store.Page[AuditEvent]:
    """Newest first, within [start, end]. Picks the index the filters allow; never a Scan."""
    low, high = keys.sortable_time(start), keys.sortable_time(end) + "~"
    actor: Any = None if user_id is None else AuditItem.actor == f"user:{user_id}"
    if resource is not None:
        pk, index = resource_partition(clinic_id, resource), "by_resource"
        if resource_id is not None:
            rid = keys.segment(resource_id)
            between, condition = (f"{rid}#{low}", f"{rid}#{high}"), actor
        else:
            between, condition = None, AuditItem.at.between(start, end)
            condition = condition if actor is None else condition & actor
    elif user_id is not None:
        pk, index, between, condition = user_partition(clinic_id, user_id), "by_user", (low, high), None
    else:
        pk, index, between, condition = partition(clinic_id), None, (low, high), None
    found = store.query_page(
        AuditItem, pk, index=index, between=between, filter_condition=condition,
        limit=limit, next_token=next_token, newest_first=True,
    )  # fmt: skip
    return store.Page([from_item(row) for row in found.items], found.next)
