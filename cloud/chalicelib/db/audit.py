"""Audit log repository: one item per write or auth event, partitioned per clinic and day."""

from __future__ import annotations

import uuid
from datetime import datetime

from chalicelib.db import keys
from chalicelib.db.tables import AuditItem, bound
from chalicelib.models import AuditEvent


def to_item(event: AuditEvent) -> AuditItem:
    return AuditItem(
        keys.audit_pk(event.clinic_id, event.at),
        f"{keys.sortable_time(event.at)}#{uuid.uuid4().hex}",
        clinic_id=event.clinic_id,
        actor=event.actor,
        action=event.action,
        outcome=event.outcome,
        target=dict(event.target),
        at=event.at,
    )


def record(event: AuditEvent) -> None:
    bound()
    to_item(event).save()


def list_day(clinic_id: str | None, day: datetime, limit: int = 100) -> list[AuditEvent]:
    """The events of one UTC day, oldest first (tests now; the audit endpoint later)."""
    bound()
    rows = AuditItem.query(keys.audit_pk(clinic_id, day), limit=limit)
    return [
        AuditEvent(
            clinic_id=row.clinic_id,
            actor=row.actor,
            action=row.action,
            outcome=row.outcome,
            target=row.target or {},
            at=row.at,
        )
        for row in rows
    ]
