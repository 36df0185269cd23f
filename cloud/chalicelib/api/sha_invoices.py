"""SHA invoices: POST /sha-invoices, PUT /sha-invoices/{invoice_id} (status), GET list and one. docs/journey.md."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.api.visits import MAX_ID, path_id
from chalicelib.models import Page
from chalicelib.services import sha_invoices
from chalicelib.services.roles import Permission
from chalicelib.services.sha_invoices import InvoiceStatus, ShaInvoice

bp = Blueprint(__name__)


class NewInvoice(RequestModel):
    visit_id: str = Field(min_length=1, max_length=MAX_ID)
    sha_number: str = Field(min_length=1, max_length=64)
    client_number: str | None = Field(default=None, min_length=1, max_length=64)
    service_given: str | None = Field(default=None, min_length=1, max_length=500)
    diagnosis: str | None = Field(default=None, min_length=1, max_length=500)
    amount: str | None = Field(default=None, min_length=1, max_length=20, examples=["500.00"])


class InvoiceMove(RequestModel):
    status: InvoiceStatus
    notes: str | None = Field(default=None, min_length=1, max_length=1000)


class InvoiceQuery(PageQuery):
    status: InvoiceStatus | None = None


@endpoint(bp, "POST", "/sha-invoices", permission=Permission.INVOICES_MANAGE, body=NewInvoice, response=ShaInvoice,
          status=201)  # fmt: skip
def create(call: Call) -> ShaInvoice:
    """Invoice a SHA visit to SHA (PENDING, numbered from the clinic's counter)."""
    body: NewInvoice = call.body
    return sha_invoices.create(call.scope, visit_id=body.visit_id, sha_number=body.sha_number,
                               client_number=body.client_number, service_given=body.service_given,
                               diagnosis=body.diagnosis, amount=body.amount)  # fmt: skip


@endpoint(bp, "PUT", "/sha-invoices/{invoice_id}", permission=Permission.INVOICES_MANAGE, body=InvoiceMove,
          response=ShaInvoice)  # fmt: skip
def move(call: Call, invoice_id: str) -> ShaInvoice:
    """Move an invoice: PENDING → SUBMITTED → APPROVED | REJECTED, APPROVED → PAID."""
    body: InvoiceMove = call.body
    return sha_invoices.move(call.scope, path_id(invoice_id, "invoice_id"), body.status, notes=body.notes)


@endpoint(bp, "GET", "/sha-invoices", permission=Permission.BILLING_READ, query=InvoiceQuery,
          response=Page[ShaInvoice])  # fmt: skip
def listing(call: Call) -> Page[ShaInvoice]:
    """The clinic's SHA invoices, optionally of one status."""
    query: InvoiceQuery = call.query
    return sha_invoices.listing(call.scope, status=query.status, limit=query.limit, next_token=query.next)


@endpoint(bp, "GET", "/sha-invoices/{invoice_id}", permission=Permission.BILLING_READ, response=ShaInvoice)
def one(call: Call, invoice_id: str) -> ShaInvoice:
    """One SHA invoice."""
    return sha_invoices.get(call.scope, path_id(invoice_id, "invoice_id"))
