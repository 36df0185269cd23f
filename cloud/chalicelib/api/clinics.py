"""Clinics: POST /clinics (organisation admins), GET /clinics, GET|PATCH /clinics/{clinic_id}."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.db.clinics import Clinic
from chalicelib.models import Page
from chalicelib.services import clinics
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

Currency = Literal["CDF", "USD", "KES"]


class NewClinic(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    currency: Currency | None = None
    address: str | None = Field(default=None, max_length=500)
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class ClinicChanges(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    currency: Currency | None = None
    address: str | None = Field(default=None, max_length=500)


class ClinicOut(BaseModel):
    id: str
    org_id: str
    name: str
    timezone: str
    currency: str
    address: str | None = None
    require_totp_roles: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, clinic: Clinic) -> ClinicOut:
        return cls.model_validate({**clinic.model_dump(), "require_totp_roles": list(clinic.require_totp_roles)})


@endpoint(bp, "POST", "/clinics", permission=Permission.CLINICS_CREATE, body=NewClinic, response=ClinicOut,
          status=201)  # fmt: skip
def create(call: Call) -> ClinicOut:
    """A new clinic in the caller's organisation (organisation admins only)."""
    body: NewClinic = call.body
    return ClinicOut.of(clinics.create(call.scope, name=body.name, timezone=body.timezone, currency=body.currency,
                                       address=body.address, clinic_id=body.id))  # fmt: skip


@endpoint(bp, "GET", "/clinics", permission=Permission.CLINICS_READ, query=PageQuery, response=Page[ClinicOut])
def list_clinics(call: Call) -> Page[ClinicOut]:
    """Every clinic of the organisation for an organisation admin; the caller's own clinic otherwise."""
    page = clinics.list_visible(call.scope, limit=call.query.limit, next_token=call.query.next)
    return Page[ClinicOut](items=[ClinicOut.of(c) for c in page.items], next=page.next)


@endpoint(bp, "GET", "/clinics/{clinic_id}", permission=Permission.CLINICS_READ, response=ClinicOut)
def get_clinic(call: Call, clinic_id: str) -> ClinicOut:
    """One clinic (the caller's own, or one of its organisation's for an organisation admin)."""
    return ClinicOut.of(clinics.visible(call.scope, clinic_id))


@endpoint(bp, "PATCH", "/clinics/{clinic_id}", permission=Permission.CLINICS_UPDATE, body=ClinicChanges,
          response=ClinicOut)  # fmt: skip
def update_clinic(call: Call, clinic_id: str) -> ClinicOut:
    """Changes name, time zone (IANA), currency (CDF, USD, KES) or address."""
    changes = call.body.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        changes.pop("name")
    return ClinicOut.of(clinics.update(call.scope, clinic_id, changes))
