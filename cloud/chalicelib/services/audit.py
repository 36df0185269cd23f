"""Audit entries and the change unit: every write carries its audit entry and outbox events in one transaction.

    with changes.change(scope, "patient.registered", resource="patient", resource_id=pid) as c:
        c.save(item, condition=...)
        c.emit("patient.registered", patient_id=pid)

Reads of a patient's record are audited with `read(...)` (one entry per page), denials by the request
edge with `denied(...)`. Entries hold ids, never names, values, passwords or tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from chalicelib.db import audit as audit_repo
from chalicelib.db import events as events_repo
from chalicelib.db import store
from chalicelib.models import AuditEvent, DomainEvent
from chalicelib.services.scope import Origin, Scope

SYSTEM_INGEST = "system:ingest"


def event(
    action: str,
    *,
    clinic_id: str | None,
    actor: str,
    at: datetime,
    outcome: str = "success",
    origin: Origin | None = None,
    role: str | None = None,
    resource: str | None = None,
    resource_id: str | None = None,
    **target: str,
) -> AuditEvent:
    origin = origin or Origin()
    return AuditEvent(
        clinic_id=clinic_id,
        actor=actor,
        action=action,
        outcome=outcome,
        role=role,
        resource=resource,
        resource_id=resource_id,
        request_id=origin.request_id,
        source_ip=origin.source_ip,
        user_agent=origin.user_agent,
        target=target,
        at=at,
    )


def entry(
    scope: Scope,
    action: str,
    *,
    at: datetime,
    resource: str | None = None,
    resource_id: str | None = None,
    outcome: str = "success",
    **target: str,
) -> AuditEvent:
    return event(
        action,
        clinic_id=scope.clinic_id,
        actor=scope.actor,
        at=at,
        outcome=outcome,
        origin=scope.origin,
        role=scope.role.value if scope.role else None,
        resource=resource,
        resource_id=resource_id,
        **target,
    )


class Change:
    """What a service adds to one transaction: its items, then (on success) the audit entry and events."""

    def __init__(self, unit: store.Unit, scope: Scope, at: datetime) -> None:
        self.unit, self.scope, self.at = unit, scope, at
        self.events: list[DomainEvent] = []
        self.save, self.update, self.delete, self.check = unit.save, unit.update, unit.delete, unit.check
        # Work to add once, when the block ends, keyed by what it writes: several calls in one change that
        # touch the same item (e.g. charges.add's visit totals) accumulate into one operation on it, since a
        # transaction may not hold two operations on one item.
        self.before_commit: dict[str, Callable[[], None]] = {}

    def emit(self, event_type: str, **subject: str) -> None:
        self.events.append(
            DomainEvent(
                id=events_repo.new_id(self.at),
                clinic_id=self.scope.clinic_id,
                type=event_type,
                subject=subject,
                actor=self.scope.actor,
                at=self.at,
            )
        )


@contextmanager
def change(
    scope: Scope,
    action: str,
    *,
    resource: str,
    resource_id: str,
    at: datetime | None = None,
    **target: str,
) -> Iterator[Change]:
    """One transaction: the caller's writes, one audit entry, the emitted events. Raises
    `store.ConditionFailed` when a condition failed (nothing is written)."""
    at = at or datetime.now(UTC)
    with store.unit() as unit:
        work = Change(unit, scope, at)
        yield work
        for finish in list(work.before_commit.values()):
            finish()
        audit_repo.add(unit, entry(scope, action, at=at, resource=resource, resource_id=resource_id, **target))
        for domain_event in work.events:
            unit.save(events_repo.to_item(domain_event))


def read(scope: Scope, resource: str, ids: Iterable[str], *, at: datetime | None = None) -> None:
    """Audits a read of patient records: one entry per page, naming every id read."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return
    at = at or datetime.now(UTC)
    single = unique[0] if len(unique) == 1 else None
    extra = {} if single else {"ids": ",".join(unique[:100]), "count": str(len(unique))}
    audit_repo.record(entry(scope, f"{resource}.read", at=at, resource=resource, resource_id=single, **extra))


def denied(
    action: str, *, clinic_id: str | None, actor: str, role: str | None, origin: Origin, reason: str, at: datetime
) -> None:
    """A refused request (401/403), audited before the answer goes out."""
    audit_repo.record(
        event(
            action, clinic_id=clinic_id, actor=actor, at=at, outcome="denied", origin=origin, role=role, reason=reason
        )
    )


def user_actor(user_id: str) -> str:
    return f"user:{user_id}"


def email_fingerprint(email: str) -> str:
    """Correlates repeated attempts on one email without storing the address."""
    return hashlib.sha256(email.encode()).hexdigest()[:16]
