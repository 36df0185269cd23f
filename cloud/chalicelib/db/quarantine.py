"""Quarantine repository: what the edge could not parse, per clinic, newest first; counted per agent on write.

Directory: `CLINIC#c` / `QUARANTINE#{quarantined_at}#{sha256}`.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import agents, audit, keys, store
from chalicelib.models import AuditEvent, Page, QuarantineItem


class QuarantineItemRow(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    sha256 = UnicodeAttribute()
    reason = UnicodeAttribute()
    detail = UnicodeAttribute()
    adapter = UnicodeAttribute(null=True)
    quarantined_at = UTCDateTimeAttribute()
    source = JSONAttribute()
    raw_key = UnicodeAttribute()


ITEMS = (QuarantineItemRow,)


def _keys(item: QuarantineItem) -> tuple[str, str]:
    return keys.clinic_pk(item.clinic_id), keys.quarantine_sk(keys.sortable_time(item.quarantined_at), item.sha256)


def record(item: QuarantineItem, *, at: datetime, event: AuditEvent) -> bool:
    """Stores the record once (with its audit entry and the agent's counter). False for a repeated delivery."""
    pk, sk = _keys(item)
    row = QuarantineItemRow(
        pk,
        sk,
        clinic_id=item.clinic_id,
        agent_id=item.agent_id,
        sha256=item.sha256,
        reason=item.reason,
        detail=item.detail,
        adapter=item.adapter,
        quarantined_at=item.quarantined_at,
        source=item.source,
        raw_key=item.raw_key,
    )
    agent_item, actions = agents.counter_update(item.clinic_id, item.agent_id, at, quarantined=1)
    try:
        with store.unit() as unit:
            unit.save(row, condition=QuarantineItemRow.pk.does_not_exist())
            unit.update(agent_item, actions=actions)
            audit.add(unit, event)
    except store.ConditionFailed:
        return False
    return True


def list_for_clinic(clinic_id: str, *, limit: int, next_token: str | None) -> Page[QuarantineItem]:
    found = store.query_page(
        QuarantineItemRow, keys.clinic_pk(clinic_id), prefix="QUARANTINE#", newest_first=True,
        limit=limit, next_token=next_token,
    )  # fmt: skip
    items = [
        QuarantineItem(
            clinic_id=row.clinic_id,
            agent_id=row.agent_id,
            sha256=row.sha256,
            reason=row.reason,
            detail=row.detail,
            adapter=row.adapter,
            quarantined_at=row.quarantined_at,
            source=row.source or {},
            raw_key=row.raw_key,
        )
        for row in found.items
    ]
    return Page[QuarantineItem](items=items, next=found.next)
