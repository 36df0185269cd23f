"""Quarantine repository: what the edge could not parse, per clinic, newest first; counted per agent on write."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.db import agents, audit, keys, pagination
from chalicelib.db.tables import QuarantineItemRow, bound, connection
from chalicelib.models import AuditEvent, Page, QuarantineItem


def _keys(item: QuarantineItem) -> tuple[str, str]:
    return keys.clinic_pk(item.clinic_id), keys.quarantine_sk(keys.sortable_time(item.quarantined_at), item.sha256)


def _exists(item: QuarantineItem) -> bool:
    try:
        QuarantineItemRow.get(*_keys(item), consistent_read=True, attributes_to_get=["pk"])
    except QuarantineItemRow.DoesNotExist:
        return False
    return True


def record(item: QuarantineItem, *, at: datetime, event: AuditEvent) -> bool:
    """Stores the record once (with its audit entry and the agent's counter). False for a repeated delivery."""
    bound()
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
        with TransactWrite(connection=connection()) as tx:
            tx.save(row, condition=QuarantineItemRow.pk.does_not_exist())
            tx.update(agent_item, actions=actions)
            tx.save(audit.to_item(event))
    except TransactWriteError:
        if _exists(item):
            return False
        raise
    return True


def list_for_clinic(clinic_id: str, *, limit: int, next_token: str | None) -> Page[QuarantineItem]:
    bound()
    pk = keys.clinic_pk(clinic_id)
    rows = QuarantineItemRow.query(
        pk,
        QuarantineItemRow.sk.startswith("QUARANTINE#"),
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=pagination.decode(next_token, pk, {"pk", "sk"}),
    )
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
        for row in rows
    ]
    return Page[QuarantineItem](items=items, next=pagination.encode(rows.last_evaluated_key))
