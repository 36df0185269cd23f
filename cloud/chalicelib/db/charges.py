"""Charges and the clinic's price list.

Clinical table, the visit's patient partition: `VISIT#{visit}#CHARGE#{at}#{charge}` — one charge (kind, code,
description, quantity, unit price and amount in minor units), beside the visit and its payments so that one
Query reads the bill (`db/payments.py`).
Directory table, `CLINIC#c` / `PRICE#{kind}#{code}`: the clinic's price of one item (minor units).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store
from chalicelib.db.visits import visit_prefix


class ChargeItem(store.ClinicalItem):
    """Clinical: `CLINIC#c#PATIENT#p` / `VISIT#{visit}#CHARGE#{at}#{charge}`."""

    class Meta:
        table_name = store.UNBOUND

    charge_id = UnicodeAttribute()
    visit_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    code = UnicodeAttribute()
    description = UnicodeAttribute()
    quantity = NumberAttribute()
    unit_minor = NumberAttribute()
    amount_minor = NumberAttribute()
    priced = BooleanAttribute()  # False: the price list had no price for it (charged at 0, see services/charges)
    at = UTCDateTimeAttribute()
    by = UnicodeAttribute()


class PriceItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `PRICE#{kind}#{code}`."""

    class Meta:
        table_name = store.UNBOUND

    kind = UnicodeAttribute()
    code = UnicodeAttribute()
    name = UnicodeAttribute()
    price_minor = NumberAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()


ITEMS = (ChargeItem, PriceItem)

CHARGE = "CHARGE#"


@dataclass(frozen=True)
class StoredCharge:
    charge_id: str
    visit_id: str
    kind: str
    code: str
    description: str
    quantity: int
    unit_minor: int
    amount_minor: int
    priced: bool
    at: datetime
    by: str


@dataclass(frozen=True)
class StoredPrice:
    kind: str
    code: str
    name: str
    price_minor: int
    updated_at: datetime
    updated_by: str


def price_sk(kind: str, code: str) -> str:
    return f"PRICE#{keys.segment(kind)}#{keys.segment(code)}"


def charge_sk(visit_id: str, at: datetime, charge_id: str) -> str:
    return f"{visit_prefix(visit_id)}{CHARGE}{keys.sortable_time(at)}#{keys.segment(charge_id)}"


def to_charge(row: ChargeItem) -> StoredCharge:
    return StoredCharge(
        charge_id=row.charge_id, visit_id=row.visit_id, kind=row.kind, code=row.code, description=row.description,
        quantity=int(row.quantity), unit_minor=int(row.unit_minor), amount_minor=int(row.amount_minor),
        priced=bool(row.priced), at=row.at, by=row.by,
    )  # fmt: skip


def _price(row: PriceItem) -> StoredPrice:
    return StoredPrice(kind=row.kind, code=row.code, name=row.name, price_minor=int(row.price_minor),
                       updated_at=row.updated_at, updated_by=row.updated_by)  # fmt: skip


# --- reading ---------------------------------------------------------------------------------------------


def price(clinic_id: str, kind: str, code: str) -> StoredPrice | None:
    row = store.get(PriceItem, keys.clinic_pk(clinic_id), price_sk(kind, code), consistent=False)
    return None if row is None else _price(row)


def price_page(clinic_id: str, *, limit: int, next_token: str | None) -> store.Page[StoredPrice]:
    found = store.query_page(PriceItem, keys.clinic_pk(clinic_id), prefix="PRICE#", limit=limit,
                             next_token=next_token)  # fmt: skip
    return store.Page(items=[_price(row) for row in found.items], next=found.next)


# --- items for a service's transaction -------------------------------------------------------------------


def add(unit: Any, clinic_id: str, patient_id: str, charge: StoredCharge) -> None:
    item = ChargeItem(
        keys.patient_pk(clinic_id, patient_id), charge_sk(charge.visit_id, charge.at, charge.charge_id),
        charge_id=charge.charge_id, visit_id=charge.visit_id, kind=charge.kind, code=charge.code,
        description=charge.description, quantity=charge.quantity, unit_minor=charge.unit_minor,
        amount_minor=charge.amount_minor, priced=charge.priced, at=charge.at, by=charge.by,
    )  # fmt: skip
    unit.save(item, condition=ChargeItem.pk.does_not_exist())


def put_price(unit: Any, clinic_id: str, entry: StoredPrice) -> None:
    item = PriceItem(
        keys.clinic_pk(clinic_id), price_sk(entry.kind, entry.code), kind=entry.kind, code=entry.code,
        name=entry.name, price_minor=entry.price_minor, updated_at=entry.updated_at, updated_by=entry.updated_by,
    )  # fmt: skip
    unit.save(item)
