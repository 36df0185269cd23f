"""Audit log: GET /audit?resource=&resource_id=&user_id=&from=&to= (admins and managers; the caller's clinic)."""

from __future__ import annotations

from datetime import datetime

from chalice import Blueprint
from pydantic import Field, model_validator

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.paging import PageQuery
from chalicelib.models import AuditEvent, Page
from chalicelib.services import audit_log
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class AuditQuery(PageQuery):
    resource: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")
    resource_id: str | None = Field(default=None, min_length=1, max_length=128)
    user_id: str | None = Field(default=None, min_length=1, max_length=64)
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AuditQuery:
        if self.resource_id is not None and self.resource is None:
            raise ValueError("resource_id needs resource")
        return self


@endpoint(bp, "GET", "/audit", permission=Permission.AUDIT_READ, query=AuditQuery, response=Page[AuditEvent])
def audit(call: Call) -> Page[AuditEvent]:
    """The clinic's audit trail, newest first, by resource, user and time."""
    query: AuditQuery = call.query
    return audit_log.search(
        call.scope,
        resource=query.resource,
        resource_id=query.resource_id,
        user_id=query.user_id,
        start=query.from_,
        end=query.to,
        limit=query.limit,
        next_token=query.next,
    )
