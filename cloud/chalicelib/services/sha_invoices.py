"""SHA invoices: a claim to the Social Health Authority for a visit paid by SHA (or NHIF), numbered from a
per-clinic counter (`SHA-{year}-{sequence}`; never reused, no duplicates under concurrency) and moved
PENDING → SUBMITTED → APPROVED | REJECTED, APPROVED → PAID. See docs/journey.md."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel

from chalicelib.db import sha_invoices as repo
from chalicelib.db import store
from chalicelib.errors import Conflict, Duplicate, InvalidInput, NotFound
from chalicelib.models import Page
from chalicelib.services import audit, money, sequences, visits
from chalicelib.services.scope import Scope
from chalicelib.services.sequences import Sequence


class InvoiceStatus(StrEnum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PAID = "PAID"


MOVES: dict[InvoiceStatus, tuple[InvoiceStatus, ...]] = {
    InvoiceStatus.PENDING: (InvoiceStatus.SUBMITTED,),
    InvoiceStatus.SUBMITTED: (InvoiceStatus.APPROVED, InvoiceStatus.REJECTED),
    InvoiceStatus.APPROVED: (InvoiceStatus.PAID,),
    InvoiceStatus.REJECTED: (),
    InvoiceStatus.PAID: (),
}
SHA_PAYMENT_TYPES = (visits.PaymentType.SHA, visits.PaymentType.NHIF)


class ShaInvoice(BaseModel):
    id: str
    invoice_number: str
    visit_id: str
    patient_id: str
    status: InvoiceStatus
    sha_number: str
    client_number: str | None = None
    service_given: str | None = None
    diagnosis: str | None = None
    amount: str
    notes: str | None = None
    created_at: datetime
    updated_at: datetime


def view(stored: repo.StoredInvoice) -> ShaInvoice:
    return ShaInvoice(
        id=stored.invoice_id, invoice_number=stored.invoice_number, visit_id=stored.visit_id,
        patient_id=stored.patient_id, status=InvoiceStatus(stored.status), sha_number=stored.sha_number,
        client_number=stored.client_number, service_given=stored.service_given, diagnosis=stored.diagnosis,
        amount=money.text(stored.amount_minor), notes=stored.notes, created_at=stored.created_at,
        updated_at=stored.updated_at,
    )  # fmt: skip


def invoice_number(sequence: int, at: datetime) -> str:
    return f"SHA-{at.year:04d}-{sequence:06d}"


def create(
    scope: Scope,
    *,
    visit_id: str,
    sha_number: str,
    client_number: str | None = None,
    service_given: str | None = None,
    diagnosis: str | None = None,
    amount: str | None = None,
    at: datetime | None = None,
) -> ShaInvoice:
    """A PENDING invoice for a SHA/NHIF visit (one live invoice per visit: 409 `invoice_exists`); its amount
    is the visit's charges total unless given."""
    at = at or datetime.now(UTC)
    visit = visits.require(scope, visit_id)
    if visit.payment_type not in SHA_PAYMENT_TYPES:
        raise InvalidInput("only a visit paid by SHA or NHIF is invoiced to SHA", code="visit_not_sha",
                           field="visit_id")  # fmt: skip
    minor = (
        money.parse(amount, field="amount") if amount is not None else money.parse(visit.charges_total, field="amount")
    )
    _refuse_second(scope, visit_id)
    invoice_id = uuid.uuid4().hex
    for current in sequences.attempts(scope.clinic_id, Sequence.SHA):
        stored = repo.StoredInvoice(
            invoice_id=invoice_id, invoice_number=invoice_number(current + 1, at), visit_id=visit_id,
            patient_id=visit.patient_id, status=InvoiceStatus.PENDING.value, sha_number=sha_number,
            client_number=client_number, service_given=service_given, diagnosis=diagnosis, amount_minor=minor,
            notes=None, created_at=at, created_by=scope.actor, updated_at=at, updated_by=scope.actor,
        )  # fmt: skip
        try:
            with audit.change(scope, "sha_invoice.created", resource="sha_invoice", resource_id=invoice_id, at=at,
                              visit_id=visit_id) as c:  # fmt: skip
                sequences.advance(c, scope.clinic_id, Sequence.SHA, current)
                repo.create(c, scope.clinic_id, stored)
                c.emit("sha_invoice.created", invoice_id=invoice_id, visit_id=visit_id)
        except (store.ConditionFailed, store.Contention):
            _refuse_second(scope, visit_id)  # a concurrent invoice of the same visit won
            continue  # the counter moved: next number
        return view(stored)
    raise AssertionError("unreachable: sequences.attempts raises when every try is lost")


def _refuse_second(scope: Scope, visit_id: str) -> None:
    existing = repo.claim_of(scope.clinic_id, repo.visit_claim_sk(visit_id))
    if existing is not None:
        raise Duplicate("the visit already has a SHA invoice", existing_id=existing, code="invoice_exists")


def _load(scope: Scope, invoice_id: str) -> repo.StoredInvoice:
    stored = repo.load(scope.clinic_id, invoice_id)
    if stored is None:
        raise NotFound("no SHA invoice with this id in your clinic", code="not_found", field="invoice_id")
    return stored


def get(scope: Scope, invoice_id: str) -> ShaInvoice:
    invoice = view(_load(scope, invoice_id))
    audit.read(scope, "sha_invoice", [invoice.id])
    return invoice


def listing(scope: Scope, *, status: InvoiceStatus | None, limit: int, next_token: str | None) -> Page[ShaInvoice]:
    found = repo.page(scope.clinic_id, status=status.value if status else None, limit=limit, next_token=next_token)
    items = [view(stored) for stored in found.items]
    audit.read(scope, "sha_invoice", [item.id for item in items])
    return Page[ShaInvoice](items=items, next=found.next)


def move(scope: Scope, invoice_id: str, status: InvoiceStatus, *, notes: str | None = None,
         at: datetime | None = None) -> ShaInvoice:  # fmt: skip
    """The invoice to `status` (409 `illegal_transition` naming the allowed ones; a conditional write)."""
    at = at or datetime.now(UTC)
    stored = _load(scope, invoice_id)
    current = InvoiceStatus(stored.status)
    if status not in MOVES[current]:
        allowed = ", ".join(s.value for s in MOVES[current]) or "none (final)"
        raise Conflict(f"a {current.value} invoice cannot become {status.value}; allowed: {allowed}",
                       code="illegal_transition", field="status")  # fmt: skip
    try:
        with audit.change(scope, "sha_invoice.status_changed", resource="sha_invoice", resource_id=invoice_id, at=at,
                          status=status.value) as c:  # fmt: skip
            repo.move(c, scope.clinic_id, stored, status.value, notes=notes, at=at, by=scope.actor)
            if status is InvoiceStatus.REJECTED:
                repo.free_visit(c, scope.clinic_id, stored)
            c.emit("sha_invoice.status_changed", invoice_id=invoice_id, status=status.value)
    except store.ConditionFailed:
        raise Conflict("the invoice changed meanwhile; reload it", code="invoice_changed", field="status") from None
    return view(_load(scope, invoice_id))
