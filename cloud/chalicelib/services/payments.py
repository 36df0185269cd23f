"""Payments and refunds against a visit, and its bill (charges against payments). See docs/journey.md.

A payment adds to the visit's paid total in the same transaction as the payment record, its audit entry and
the `payment.completed` event; the balance and payment status follow from the totals. A refund is a negative
payment with a reason and never takes the paid total below zero (a condition on the visit item, so two
concurrent refunds cannot both pass).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel

from chalicelib.db import payments as repo
from chalicelib.db import store
from chalicelib.db import visits as visits_repo
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.services import audit, charges, money, visits
from chalicelib.services.charges import Charge
from chalicelib.services.scope import Scope
from chalicelib.services.visits import PaymentStatus, PaymentType, Visit, VisitStatus


class Payment(BaseModel):
    id: str
    visit_id: str
    amount: str  # negative: a refund
    payment_type: PaymentType
    reference: str | None = None
    reason: str | None = None
    paid_at: datetime
    taken_by: str


class PaymentReceipt(Payment):
    """A payment with the visit's totals after it."""

    visit: Visit


class Bill(BaseModel):
    visit_id: str
    patient_id: str
    currency: str
    visit_status: VisitStatus
    charges: list[Charge]
    payments: list[Payment]
    charges_total: str
    paid_total: str
    balance: str
    payment_status: PaymentStatus
    complete: bool  # every line is listed


def _view(payment: repo.StoredPayment) -> Payment:
    return Payment(
        id=payment.payment_id, visit_id=payment.visit_id, amount=money.text(payment.amount_minor),
        payment_type=PaymentType(payment.payment_type), reference=payment.reference, reason=payment.reason,
        paid_at=payment.at, taken_by=payment.by,
    )  # fmt: skip


def take(
    scope: Scope,
    *,
    visit_id: str,
    amount: str,
    payment_type: PaymentType,
    reference: str | None = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> PaymentReceipt:
    """Records a payment (amount > 0) or a refund (amount < 0, with `reason`) against the visit."""
    at = at or datetime.now(UTC)
    minor = money.parse(amount, field="amount", negative=True)
    if minor == 0:
        raise InvalidInput("amount cannot be zero", code="invalid_amount", field="amount")
    if minor < 0 and not reason:
        raise InvalidInput("a refund (negative amount) needs a reason", code="refund_reason_required", field="reason")
    stored_visit = visits.load(scope, visit_id)
    if minor > 0 and stored_visit.status == VisitStatus.CANCELLED.value:
        raise Conflict("the visit was cancelled; it takes no payments", code="visit_cancelled", field="visit_id")
    if minor < 0 and -minor > stored_visit.paid_minor:
        raise _refund_too_large(stored_visit.paid_minor)
    payment = repo.StoredPayment(
        payment_id=uuid.uuid4().hex, visit_id=visit_id, amount_minor=minor, payment_type=payment_type.value,
        reference=reference, reason=reason, at=at, by=scope.actor,
    )  # fmt: skip
    action = "payment.refunded" if minor < 0 else "payment.taken"
    try:
        with audit.change(scope, action, resource="payment", resource_id=payment.payment_id, at=at,
                          visit_id=visit_id) as c:  # fmt: skip
            repo.add(c, scope.clinic_id, stored_visit.patient_id, payment)
            visits_repo.add_payment(c, scope.clinic_id, stored_visit.patient_id, visit_id, minor)
            c.emit("payment.completed", visit_id=visit_id, payment_id=payment.payment_id,
                   amount=money.text(minor))  # fmt: skip
    except store.ConditionFailed:
        # The only condition that can fail for a loaded visit: a concurrent refund took the paid total first.
        fresh = visits_repo.load(scope.clinic_id, stored_visit.patient_id, visit_id)
        raise _refund_too_large(fresh.paid_minor if fresh else 0) from None
    return PaymentReceipt(**_view(payment).model_dump(), visit=visits.require(scope, visit_id))


def _refund_too_large(paid_minor: int) -> Conflict:
    return Conflict(f"a refund cannot exceed what was paid ({money.text(paid_minor)})", code="refund_exceeds_paid",
                    field="amount")  # fmt: skip


def bill(scope: Scope, visit_id: str) -> Bill:
    """The visit's charges and payments (one Query) with its totals. Audited as a read of the visit."""
    visit = visits.require(scope, visit_id)
    lines = repo.bill_lines(scope.clinic_id, visit.patient_id, visit_id)
    audit.read(scope, "bill", [visit_id])
    return Bill(
        visit_id=visit.id, patient_id=visit.patient_id, currency=charges.currency(scope), visit_status=visit.status,
        charges=[charges.view(line) for line in lines.charges], payments=[_view(line) for line in lines.payments],
        charges_total=visit.charges_total, paid_total=visit.paid_total, balance=visit.balance,
        payment_status=visit.payment_status, complete=lines.complete,
    )  # fmt: skip
