"""SHA invoices repository (directory table, the clinic's partition).

- `CLINIC#c` / `SHAINV#{invoice}`: the invoice. `gsi1pk` = `CLINIC#c#SHAINV#{status}`, `gsi1sk` =
  `{created}#{invoice}`: the clinic's invoices of one status, oldest first (the key moves with the status).
- `CLINIC#c` / `COUNTER#SHA`: the clinic's last issued invoice sequence number (`db/sequences.py`; never reused).
- `CLINIC#c` / `SHANUM#{number}`: the number's claim (does-not-exist condition): no two invoices share one.
- `CLINIC#c` / `SHAVISIT#{visit}`: the visit's live invoice (one per visit; freed when it is REJECTED).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store


class InvoiceItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    invoice_id = UnicodeAttribute()
    invoice_number = UnicodeAttribute()
    visit_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    status = UnicodeAttribute()
    sha_number = UnicodeAttribute()
    client_number = UnicodeAttribute(null=True)
    service_given = UnicodeAttribute(null=True)
    diagnosis = UnicodeAttribute(null=True)
    amount_minor = NumberAttribute()
    notes = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute()


class InvoiceClaimItem(store.DirectoryItem):
    """`SHANUM#{number}` or `SHAVISIT#{visit}` → the invoice holding it."""

    class Meta:
        table_name = store.UNBOUND

    invoice_id = UnicodeAttribute()


ITEMS = (InvoiceItem, InvoiceClaimItem)


@dataclass(frozen=True)
class StoredInvoice:
    invoice_id: str
    invoice_number: str
    visit_id: str
    patient_id: str
    status: str
    sha_number: str
    client_number: str | None
    service_given: str | None
    diagnosis: str | None
    amount_minor: int
    notes: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


def invoice_sk(invoice_id: str) -> str:
    return f"SHAINV#{keys.segment(invoice_id)}"


def status_pk(clinic_id: str, status: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#SHAINV#{status}"


def number_sk(number: str) -> str:
    return f"SHANUM#{keys.segment(number)}"


def visit_claim_sk(visit_id: str) -> str:
    return f"SHAVISIT#{keys.segment(visit_id)}"


def _stored(row: InvoiceItem) -> StoredInvoice:
    return StoredInvoice(
        invoice_id=row.invoice_id, invoice_number=row.invoice_number, visit_id=row.visit_id,
        patient_id=row.patient_id, status=row.status, sha_number=row.sha_number, client_number=row.client_number,
        service_given=row.service_given, diagnosis=row.diagnosis, amount_minor=int(row.amount_minor),
        notes=row.notes, created_at=row.created_at, created_by=row.created_by, updated_at=row.updated_at,
        updated_by=row.updated_by,
    )  # fmt: skip


# --- reading ---------------------------------------------------------------------------------------------


def load(clinic_id: str, invoice_id: str) -> StoredInvoice | None:
    row = store.get(InvoiceItem, keys.clinic_pk(clinic_id), invoice_sk(invoice_id))
    return None if row is None else _stored(row)


def claim_of(clinic_id: str, sk: str) -> str | None:
    row = store.get(InvoiceClaimItem, keys.clinic_pk(clinic_id), sk)
    return None if row is None else row.invoice_id


def page(clinic_id: str, *, status: str | None, limit: int, next_token: str | None) -> store.Page[StoredInvoice]:
    """One status's invoices (gsi1, oldest first), or all of them (the clinic partition's `SHAINV#` range)."""
    if status:
        found = store.query_page(InvoiceItem, status_pk(clinic_id, status), index="gsi1", limit=limit,
                                 next_token=next_token)  # fmt: skip
    else:
        found = store.query_page(InvoiceItem, keys.clinic_pk(clinic_id), prefix="SHAINV#", limit=limit,
                                 next_token=next_token)  # fmt: skip
    return store.Page(items=[_stored(row) for row in found.items], next=found.next)


# --- items for a service's transaction -------------------------------------------------------------------


def create(unit: Any, clinic_id: str, invoice: StoredInvoice) -> None:
    """The invoice and the number's and visit's claims (the counter moves in the same unit, by the service)."""
    pk = keys.clinic_pk(clinic_id)
    unit.save(InvoiceClaimItem(pk, number_sk(invoice.invoice_number), invoice_id=invoice.invoice_id),
              condition=InvoiceClaimItem.pk.does_not_exist())  # fmt: skip
    unit.save(InvoiceClaimItem(pk, visit_claim_sk(invoice.visit_id), invoice_id=invoice.invoice_id),
              condition=InvoiceClaimItem.pk.does_not_exist())  # fmt: skip
    created = keys.sortable_time(invoice.created_at)
    item = InvoiceItem(
        pk, invoice_sk(invoice.invoice_id), gsi1pk=status_pk(clinic_id, invoice.status),
        gsi1sk=f"{created}#{keys.segment(invoice.invoice_id)}", invoice_id=invoice.invoice_id,
        invoice_number=invoice.invoice_number, visit_id=invoice.visit_id, patient_id=invoice.patient_id,
        status=invoice.status, sha_number=invoice.sha_number, client_number=invoice.client_number,
        service_given=invoice.service_given, diagnosis=invoice.diagnosis, amount_minor=invoice.amount_minor,
        notes=invoice.notes, created_at=invoice.created_at, created_by=invoice.created_by,
        updated_at=invoice.updated_at, updated_by=invoice.updated_by,
    )  # fmt: skip
    unit.save(item, condition=InvoiceItem.pk.does_not_exist())


def move(unit: Any, clinic_id: str, invoice: StoredInvoice, status: str, *, notes: str | None, at: datetime,
         by: str) -> None:  # fmt: skip
    """The invoice from its loaded status to `status` (fails when another move came first)."""
    item = InvoiceItem(keys.clinic_pk(clinic_id), invoice_sk(invoice.invoice_id))
    actions: list[Action] = [
        InvoiceItem.status.set(status), InvoiceItem.gsi1pk.set(status_pk(clinic_id, status)),
        InvoiceItem.updated_at.set(at), InvoiceItem.updated_by.set(by),
    ]  # fmt: skip
    if notes is not None:
        actions.append(InvoiceItem.notes.set(notes))
    unit.update(item, actions, condition=InvoiceItem.status == invoice.status)


def free_visit(unit: Any, clinic_id: str, invoice: StoredInvoice) -> None:
    """A rejected invoice lets the visit be invoiced again (its number stays claimed: never reused)."""
    item = InvoiceClaimItem(keys.clinic_pk(clinic_id), visit_claim_sk(invoice.visit_id))
    unit.delete(item, condition=InvoiceClaimItem.invoice_id == invoice.invoice_id)
