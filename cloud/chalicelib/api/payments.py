"""Payments and refunds (POST /payments) and a visit's bill (GET /visits/{visit_id}/bill). See docs/journey.md."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.visits import MAX_ID, path_id
from chalicelib.services import payments
from chalicelib.services.payments import Bill, PaymentReceipt
from chalicelib.services.roles import Permission
from chalicelib.services.visits import PaymentType

bp = Blueprint(__name__)


class NewPayment(RequestModel):
    visit_id: str = Field(min_length=1, max_length=MAX_ID)
    # A decimal string ("500.00"); a JSON number is refused (422 naming `amount`): money is never a float.
    amount: str = Field(min_length=1, max_length=20, examples=["500.00", "-100.00"])
    payment_type: PaymentType
    reference: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str | None = Field(default=None, min_length=1, max_length=500)


@endpoint(bp, "POST", "/payments", permission=Permission.PAYMENTS_TAKE, body=NewPayment, response=PaymentReceipt,
          status=201)  # fmt: skip
def take_payment(call: Call) -> PaymentReceipt:
    """Take a payment against a visit (a negative amount with a reason is a refund, never more than paid)."""
    body: NewPayment = call.body
    return payments.take(call.scope, visit_id=body.visit_id, amount=body.amount, payment_type=body.payment_type,
                         reference=body.reference, reason=body.reason)  # fmt: skip


@endpoint(bp, "GET", "/visits/{visit_id}/bill", permission=Permission.BILLING_READ, response=Bill)
def bill(call: Call, visit_id: str) -> Bill:
    """A visit's bill: its charges against its payments, totals and balance."""
    return payments.bill(call.scope, path_id(visit_id, "visit_id"))
