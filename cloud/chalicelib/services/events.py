"""Reading the events outbox (GET /events): the scope's clinic only, in id order."""

from __future__ import annotations

from chalicelib.db import events as events_repo
from chalicelib.models import DomainEvent, Page
from chalicelib.services.scope import Scope


def after(scope: Scope, after_id: str | None, *, limit: int, next_token: str | None) -> Page[DomainEvent]:
    found = events_repo.after(scope.clinic_id, after_id, limit=limit, next_token=next_token)
    return Page[DomainEvent](items=found.items, next=found.next)
