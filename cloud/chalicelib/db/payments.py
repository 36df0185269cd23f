"""Payments of a visit and the bill's one Query.

Clinical table, the visit's patient partition: `VISIT#{visit}#PAYMENT#{at}#{payment}` — one payment (or, with
a negative amount, a refund) in minor units. Charges (`db/charges.py`) sit beside them under the same
`VISIT#{visit}#` prefix, so `bill_lines` reads a whole bill with one Query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import charges, keys, store
from chalicelib.db.visits import visit_prefix

PAYMENT = "PAYMENT#"
BILL_LINES_MAX = 1000  # one Query's page; a visit's bill is far shorter (and within DynamoDB's 1 MB)


class PaymentItem(store.ClinicalItem):
    """Clinical: `CLINIC#c#PATIENT#p` / `VISIT#{visit}#PAYMENT#{at}#{payment}`."""

    class Meta:
        table_name = store.UNBOUND

    payment_id = UnicodeAttribute()
    visit_id = UnicodeAttribute()
    amount_minor = NumberAttribute()
    payment_type = UnicodeAttribute()
    reference = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()
    by = UnicodeAttribute()


class BillLineItem(store.ClinicalItem):
    """A read-only view of either line under `VISIT#{visit}#` (a charge or a payment): the union of their
    attributes, so one Query returns both; `sk` says which."""

    class Meta:
        table_name = store.UNBOUND

    charge_id = UnicodeAttribute(null=True)
    payment_id = UnicodeAttribute(null=True)
    visit_id = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    code = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    quantity = NumberAttribute(null=True)
    unit_minor = NumberAttribute(null=True)
    amount_minor = NumberAttribute(null=True)
    priced = BooleanAttribute(null=True)
    payment_type = UnicodeAttribute(null=True)
    reference = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute(null=True)
    by = UnicodeAttribute(null=True)


ITEMS = (PaymentItem, BillLineItem)


@dataclass(frozen=True)
class StoredPayment:
    payment_id: str
    visit_id: str
    amount_minor: int
    payment_type: str
    reference: str | None
    reason: str | None
    at: datetime
    by: str


def payment_sk(visit_id: str, at: datetime, payment_id: str) -> str:
    return f"{visit_prefix(visit_id)}{PAYMENT}{keys.sortable_time(at)}#{keys.segment(payment_id)}"


def add(unit: Any, clinic_id: str, patient_id: str, payment: StoredPayment) -> None:
    item = PaymentItem(
        keys.patient_pk(clinic_id, patient_id), payment_sk(payment.visit_id, payment.at, payment.payment_id),
        payment_id=payment.payment_id, visit_id=payment.visit_id, amount_minor=payment.amount_minor,
        payment_type=payment.payment_type, reference=payment.reference, reason=payment.reason, at=payment.at,
        by=payment.by,
    )  # fmt: skip
    unit.save(item, condition=PaymentItem.pk.does_not_exist())


@dataclass(frozen=True)
class BillLines:
    charges: list[charges.StoredCharge]
    payments: list[StoredPayment]
    complete: bool  # False only if a visit ever held more than BILL_LINES_MAX lines


def bill_lines(clinic_id: str, patient_id: str, visit_id: str) -> BillLines:
    """A visit's charges and payments, in time order: ONE Query on the visit's prefix."""
    page = store.query_page(BillLineItem, keys.patient_pk(clinic_id, patient_id), prefix=visit_prefix(visit_id),
                            limit=BILL_LINES_MAX, next_token=None)  # fmt: skip
    found_charges: list[charges.StoredCharge] = []
    found_payments: list[StoredPayment] = []
    charge_prefix, payment_prefix = visit_prefix(visit_id) + charges.CHARGE, visit_prefix(visit_id) + PAYMENT
    for row in page.items:
        if row.sk.startswith(charge_prefix):
            found_charges.append(charges.StoredCharge(
                charge_id=str(row.charge_id), visit_id=visit_id, kind=str(row.kind), code=str(row.code),
                description=str(row.description), quantity=int(row.quantity or 0), unit_minor=int(row.unit_minor or 0),
                amount_minor=int(row.amount_minor or 0), priced=bool(row.priced), at=row.at, by=str(row.by),
            ))  # fmt: skip
        elif row.sk.startswith(payment_prefix):
            found_payments.append(StoredPayment(
                payment_id=str(row.payment_id), visit_id=visit_id, amount_minor=int(row.amount_minor or 0),
                payment_type=str(row.payment_type), reference=row.reference, reason=row.reason, at=row.at,
                by=str(row.by),
            ))  # fmt: skip
    return BillLines(charges=found_charges, payments=found_payments, complete=page.next is None)
