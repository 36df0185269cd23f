"""Clinics repository (directory table).

`CLINIC#c` / `CLINIC` is the clinic (found by id); `ORG#o` / `CLINIC#c` is the same record under its
organisation, so an organisation admin lists its clinics with one Query. Both are written together.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.condition import Condition

from chalicelib.db import keys, store
from chalicelib.models import Page

CLINIC_SK = "CLINIC"


class Clinic(BaseModel):
    """A clinic of an organisation (no PHI)."""

    model_config = ConfigDict(frozen=True)

    id: str
    org_id: str
    name: str
    timezone: str
    currency: str
    address: str | None = None
    require_totp_roles: tuple[str, ...] = ()
    created_at: datetime
    updated_at: datetime
    # Seed 000's practice discount: the tier the last-30-days tagging rate earned, kept by GET /tagging/analytics.
    discount_tier: int | None = None
    tagging_rate: float | None = None
    discount_tier_at: datetime | None = None


class ClinicItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    name = UnicodeAttribute()
    timezone = UnicodeAttribute()
    currency = UnicodeAttribute()
    address = UnicodeAttribute(null=True)
    require_totp_roles = ListAttribute(of=UnicodeAttribute, null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    discount_tier = NumberAttribute(null=True)
    tagging_rate = NumberAttribute(null=True)
    discount_tier_at = UTCDateTimeAttribute(null=True)


ITEMS = (ClinicItem,)


def org_pk(org_id: str) -> str:
    return f"ORG#{keys.segment(org_id)}"


def _org_sk(clinic_id: str) -> str:
    return f"CLINIC#{keys.segment(clinic_id)}"


def items(clinic: Clinic) -> tuple[ClinicItem, ClinicItem]:
    """The clinic's two items (by id, and under its organisation) for a transaction to save."""
    values: dict[str, Any] = {
        "clinic_id": clinic.id,
        "org_id": clinic.org_id,
        "name": clinic.name,
        "timezone": clinic.timezone,
        "currency": clinic.currency,
        "address": clinic.address,
        "require_totp_roles": list(clinic.require_totp_roles) or None,
        "created_at": clinic.created_at,
        "updated_at": clinic.updated_at,
        "discount_tier": clinic.discount_tier,
        "tagging_rate": clinic.tagging_rate,
        "discount_tier_at": clinic.discount_tier_at,
    }
    return (
        ClinicItem(keys.clinic_pk(clinic.id), CLINIC_SK, **values),
        ClinicItem(org_pk(clinic.org_id), _org_sk(clinic.id), **values),
    )


def keys_of(clinic: Clinic) -> tuple[ClinicItem, ClinicItem]:
    """Items naming only the clinic's two keys (for updates of a few attributes)."""
    return ClinicItem(keys.clinic_pk(clinic.id), CLINIC_SK), ClinicItem(org_pk(clinic.org_id), _org_sk(clinic.id))


def is_new() -> Condition:
    return ClinicItem.pk.does_not_exist()


def exists() -> Condition:
    return ClinicItem.pk.exists()


def _from_item(row: ClinicItem) -> Clinic:
    return Clinic(
        id=row.clinic_id,
        org_id=row.org_id,
        name=row.name,
        timezone=row.timezone,
        currency=row.currency,
        address=row.address,
        require_totp_roles=tuple(row.require_totp_roles or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
        discount_tier=None if row.discount_tier is None else int(row.discount_tier),
        tagging_rate=None if row.tagging_rate is None else float(row.tagging_rate),
        discount_tier_at=row.discount_tier_at,
    )


def get(clinic_id: str) -> Clinic | None:
    row = store.get(ClinicItem, keys.clinic_pk(clinic_id), CLINIC_SK)
    return None if row is None else _from_item(row)


def list_for_org(org_id: str, *, limit: int, next_token: str | None) -> Page[Clinic]:
    found = store.query_page(ClinicItem, org_pk(org_id), prefix="CLINIC#", limit=limit, next_token=next_token)
    return Page[Clinic](items=[_from_item(row) for row in found.items], next=found.next)
