"""Charges: what a visit costs, priced from the clinic's price list, added by the domains that do the work
(the consultation when a visit opens, lab tests when they are requested, medications when dispensed ...).

Price look-up for `(kind, code)`: the clinic's price of that exact item (`PUT /prices`); else the clinic's
price of `(kind, "DEFAULT")`; else 0.00 with the charge marked unpriced (`priced: false` on the bill), so a
missing price never invents money and the accountant sees what to price. See docs/journey.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel

from chalicelib.db import charges as repo
from chalicelib.db import clinics as clinics_repo
from chalicelib.db import visits as visits_repo
from chalicelib.errors import InvalidInput
from chalicelib.models import Page
from chalicelib.services import audit, money
from chalicelib.services.scope import Scope

if TYPE_CHECKING:
    from chalicelib.services.visits import Visit

DEFAULT_CODE = "DEFAULT"  # the kind's fallback price in a clinic's list
CONSULTATION_CODE = "CONSULTATION"  # the charge a visit gets when it opens
MAX_PRICES_PER_PUT = 90  # one transaction: ≤ 100 items with its audit entry and event


class ChargeKind(StrEnum):
    CONSULTATION = "CONSULTATION"
    LAB_TEST = "LAB_TEST"
    MEDICATION = "MEDICATION"
    PROCEDURE = "PROCEDURE"
    OTHER = "OTHER"


class Charge(BaseModel):
    """A line of a bill (amounts are decimal strings in the clinic's currency)."""

    id: str
    kind: ChargeKind
    code: str
    description: str
    quantity: int
    unit_price: str
    amount: str
    priced: bool  # False: the price list had no price for it (charged 0.00)
    charged_at: datetime
    charged_by: str


class Price(BaseModel):
    kind: ChargeKind
    code: str
    name: str
    price: str
    currency: str
    updated_at: datetime


def view(charge: repo.StoredCharge) -> Charge:
    return Charge(
        id=charge.charge_id, kind=ChargeKind(charge.kind), code=charge.code, description=charge.description,
        quantity=charge.quantity, unit_price=money.text(charge.unit_minor), amount=money.text(charge.amount_minor),
        priced=charge.priced, charged_at=charge.at, charged_by=charge.by,
    )  # fmt: skip


def unit_price(scope: Scope, kind: ChargeKind, code: str) -> int | None:
    """The clinic's price of `(kind, code)`, else of `(kind, DEFAULT)`, in minor units; None when unpriced."""
    for candidate in (code, DEFAULT_CODE):
        entry = repo.price(scope.clinic_id, kind.value, candidate)
        if entry is not None:
            return entry.price_minor
    return None


def priced(
    scope: Scope, visit_id: str, *, kind: ChargeKind, code: str, description: str, quantity: int, at: datetime
) -> repo.StoredCharge:
    """A charge priced from the clinic's list (not yet written)."""
    if quantity < 1:
        raise InvalidInput("quantity must be at least 1", code="invalid_quantity", field="quantity")
    unit = unit_price(scope, kind, code)
    return repo.StoredCharge(
        charge_id=uuid.uuid4().hex, visit_id=visit_id, kind=kind.value, code=code, description=description,
        quantity=quantity, unit_minor=unit or 0, amount_minor=(unit or 0) * quantity, priced=unit is not None,
        at=at, by=scope.actor,
    )  # fmt: skip


class _Totals:
    """The visit-total update of one change: charges added in the change accumulate here and reach the
    visit item as ONE update when the change commits."""

    def __init__(self, c: audit.Change, clinic_id: str, patient_id: str, visit_id: str) -> None:
        self.c, self.clinic_id, self.patient_id, self.visit_id = c, clinic_id, patient_id, visit_id
        self.amount = 0

    def __call__(self) -> None:
        visits_repo.add_charges(self.c.unit, self.clinic_id, self.patient_id, self.visit_id, self.amount)


def add(
    c: audit.Change,
    scope: Scope,
    visit: Visit,
    *,
    kind: ChargeKind,
    code: str,
    description: str,
    quantity: int = 1,
) -> None:
    """Adds to the change `c` a CHARGE item under `visit` (priced from the clinic's list, see the module
    docstring) and the update of the visit's charges total.

    The total is one update of the visit item, added when the change's block ends; several `add` calls for
    the same visit in one change (e.g. a lab request of three tests) accumulate into it. Because a DynamoDB
    transaction may hold only one operation per item, a caller must NOT also save, update, delete or check
    the visit item itself in the same change (write its own records and let this keep the visit's totals).
    The update requires the visit to exist, so a change naming a vanished visit fails as a whole
    (`store.ConditionFailed`). `visit` comes from `visits.require` / `visits.require_for_patient`.
    Raises InvalidInput (field `quantity`) when `quantity` < 1.
    """
    charge = priced(scope, visit.id, kind=kind, code=code, description=description, quantity=quantity, at=c.at)
    repo.add(c, scope.clinic_id, visit.patient_id, charge)
    key = f"visit-totals:{visit.patient_id}:{visit.id}"
    totals = c.before_commit.get(key)
    if not isinstance(totals, _Totals):
        totals = _Totals(c, scope.clinic_id, visit.patient_id, visit.id)
        c.before_commit[key] = totals
    totals.amount += charge.amount_minor


# --- the price list --------------------------------------------------------------------------------------


def currency(scope: Scope) -> str:
    clinic = clinics_repo.get(scope.clinic_id)
    return clinic.currency if clinic is not None else "KES"


def prices(scope: Scope, *, limit: int, next_token: str | None) -> Page[Price]:
    found = repo.price_page(scope.clinic_id, limit=limit, next_token=next_token)
    cur = currency(scope)
    items = [
        Price(kind=ChargeKind(p.kind), code=p.code, name=p.name, price=money.text(p.price_minor), currency=cur,
              updated_at=p.updated_at)
        for p in found.items
    ]  # fmt: skip
    return Page[Price](items=items, next=found.next)


def set_prices(
    scope: Scope, entries: list[tuple[ChargeKind, str, str, str]], *, at: datetime | None = None
) -> list[Price]:
    """Sets the price of each `(kind, code, name, price)` (added or replaced; others unchanged), in one
    transaction with one audit entry and a `prices.updated` event."""
    at = at or datetime.now(UTC)
    if len(entries) > MAX_PRICES_PER_PUT:
        raise InvalidInput(f"at most {MAX_PRICES_PER_PUT} prices per request", code="too_many_items", field="items")
    seen: set[tuple[str, str]] = set()
    stored: list[repo.StoredPrice] = []
    for position, (kind, code, name, price) in enumerate(entries):
        if (kind.value, code) in seen:
            raise InvalidInput(f"{kind.value} {code} is given twice", code="duplicate_item",
                               field=f"items.{position}.code")  # fmt: skip
        seen.add((kind.value, code))
        minor = money.parse(price, field=f"items.{position}.price")
        stored.append(repo.StoredPrice(kind=kind.value, code=code, name=name, price_minor=minor, updated_at=at,
                                       updated_by=scope.actor))  # fmt: skip
    with audit.change(scope, "prices.updated", resource="price_list", resource_id=scope.clinic_id, at=at,
                      count=str(len(stored))) as c:  # fmt: skip
        for entry in stored:
            repo.put_price(c, scope.clinic_id, entry)
        c.emit("prices.updated", count=str(len(stored)))
    cur = currency(scope)
    return [Price(kind=ChargeKind(p.kind), code=p.code, name=p.name, price=money.text(p.price_minor), currency=cur,
                  updated_at=p.updated_at) for p in stored]  # fmt: skip
