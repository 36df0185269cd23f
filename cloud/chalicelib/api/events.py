"""Domain events: GET /events?after=ID (the caller's clinic's state changes, in order; ids, no PHI)."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.models import DomainEvent, Page
from chalicelib.services import events as events_service
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class EventsQuery(PageQuery):
    after: str | None = Field(default=None, pattern=r"^[0-9T:.\-Z]{20,40}-[0-9a-f]{12}$")


@endpoint(bp, "GET", "/events", permission=Permission.EVENTS_READ, query=EventsQuery, response=Page[DomainEvent])
def events(call: Call) -> Page[DomainEvent]:
    """The clinic's domain events after `after`, oldest first."""
    query: EventsQuery = call.query
    return events_service.after(call.scope, query.after, limit=query.limit, next_token=query.next)
