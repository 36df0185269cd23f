"""Searching the audit trail (GET /audit): the caller's clinic only, newest first; the search is itself audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.db import audit as audit_repo
from chalicelib.errors import InvalidInput
from chalicelib.models import AuditEvent, Page
from chalicelib.services.scope import Scope

DEFAULT_WINDOW = timedelta(days=30)


def search(
    scope: Scope,
    *,
    resource: str | None,
    resource_id: str | None,
    user_id: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    next_token: str | None,
) -> Page[AuditEvent]:
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - DEFAULT_WINDOW
    if start > end:
        raise InvalidInput("'from' must not be after 'to'", code="invalid_request", field="from")
    found = audit_repo.page(
        scope.clinic_id, resource=resource, resource_id=resource_id, user_id=user_id,
        start=start, end=end, limit=limit, next_token=next_token,
    )  # fmt: skip
    return Page[AuditEvent](items=found.items, next=found.next)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
