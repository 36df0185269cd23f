"""Visits: a registered patient's one open visit at a time, moved through the clinic's statuses, with its running
bill totals. The interface other domains build on: `require` / `require_for_patient` (the visit, in scope) and
`charges.add` (what the visit costs). Rules: docs/journey.md.

    REGISTERED → TRIAGED → IN_CONSULTATION → (AWAITING_LAB | AWAITING_PHARMACY | AWAITING_PAYMENT, between each
    other and back to IN_CONSULTATION) → COMPLETED; CANCELLED from any state that is not final.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from chalicelib.db import patients as patients_repo
from chalicelib.db import store
from chalicelib.db import visits as repo
from chalicelib.db.charges import add as add_charge
from chalicelib.errors import Conflict, Duplicate, InvalidInput, NotFound
from chalicelib.models import Page
from chalicelib.services import appointments, audit, charges, clinics, money
from chalicelib.services.charges import ChargeKind
from chalicelib.services.scope import Scope


class VisitStatus(StrEnum):
    REGISTERED = "REGISTERED"
    TRIAGED = "TRIAGED"
    IN_CONSULTATION = "IN_CONSULTATION"
    AWAITING_LAB = "AWAITING_LAB"
    AWAITING_PHARMACY = "AWAITING_PHARMACY"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class TriageCategory(StrEnum):
    NORMAL = "NORMAL"
    URGENT = "URGENT"
    EMERGENCY = "EMERGENCY"


class PaymentType(StrEnum):
    CASH = "CASH"
    MOBILE_MONEY = "MOBILE_MONEY"
    SHA = "SHA"
    NHIF = "NHIF"
    INSURANCE = "INSURANCE"


class PaymentStatus(StrEnum):
    UNPAID = "UNPAID"
    PARTIAL = "PARTIAL"
    PAID = "PAID"


FINAL = frozenset({VisitStatus.COMPLETED, VisitStatus.CANCELLED})
_WAITING = (VisitStatus.AWAITING_LAB, VisitStatus.AWAITING_PHARMACY, VisitStatus.AWAITING_PAYMENT)
TRANSITIONS: dict[VisitStatus, tuple[VisitStatus, ...]] = {
    VisitStatus.REGISTERED: (VisitStatus.TRIAGED, VisitStatus.CANCELLED),
    VisitStatus.TRIAGED: (VisitStatus.IN_CONSULTATION, VisitStatus.CANCELLED),
    VisitStatus.IN_CONSULTATION: (*_WAITING, VisitStatus.COMPLETED, VisitStatus.CANCELLED),
    **{
        waiting: (
            *(other for other in _WAITING if other is not waiting),
            VisitStatus.IN_CONSULTATION,
            VisitStatus.COMPLETED,
            VisitStatus.CANCELLED,
        )
        for waiting in _WAITING
    },
    VisitStatus.COMPLETED: (),
    VisitStatus.CANCELLED: (),
}


class Visit(BaseModel):
    """A visit (response model; money as decimal strings in the clinic's currency)."""

    id: str
    patient_id: str
    status: VisitStatus
    chief_complaint: str
    triage_category: TriageCategory
    payment_type: PaymentType
    payment_reference: str | None = None
    day: date  # the clinic-local date it opened: the queue it is in
    opened_at: datetime
    opened_by: str
    updated_at: datetime
    version: int
    charges_total: str
    paid_total: str
    balance: str
    payment_status: PaymentStatus
    discharge_notes: str | None = None
    completed_at: datetime | None = None
    follow_up_appointment_id: str | None = None


def payment_status(charges_minor: int, paid_minor: int) -> PaymentStatus:
    """PAID once payments cover the charges (and something was paid); PARTIAL when some is paid."""
    if paid_minor > 0 and paid_minor >= charges_minor:
        return PaymentStatus.PAID
    if paid_minor > 0:
        return PaymentStatus.PARTIAL
    return PaymentStatus.UNPAID


def view(stored: repo.StoredVisit) -> Visit:
    return Visit(
        id=stored.visit_id, patient_id=stored.patient_id, status=VisitStatus(stored.status),
        chief_complaint=stored.chief_complaint, triage_category=TriageCategory(stored.triage_category),
        payment_type=PaymentType(stored.payment_type), payment_reference=stored.payment_reference,
        day=date.fromisoformat(stored.day), opened_at=stored.opened_at, opened_by=stored.opened_by,
        updated_at=stored.updated_at, version=stored.version, charges_total=money.text(stored.charges_minor),
        paid_total=money.text(stored.paid_minor), balance=money.text(stored.charges_minor - stored.paid_minor),
        payment_status=payment_status(stored.charges_minor, stored.paid_minor),
        discharge_notes=stored.discharge_notes, completed_at=stored.completed_at,
        follow_up_appointment_id=stored.follow_up_appointment_id,
    )  # fmt: skip


# --- the interface other domains use ---------------------------------------------------------------------


def _not_found() -> NotFound:
    # The same answer for an unknown id, another clinic's and (patient tokens) another patient's.
    return NotFound("no visit with this id in your clinic", code="not_found", field="visit_id")


def load(scope: Scope, visit_id: str) -> repo.StoredVisit:
    patient_id = repo.patient_of(scope.clinic_id, visit_id)
    if patient_id is None:
        raise _not_found()
    try:
        scope.patient(patient_id)
    except NotFound:
        raise _not_found() from None
    stored = repo.load(scope.clinic_id, patient_id, visit_id)
    if stored is None:
        raise _not_found()
    return stored


def require(scope: Scope, visit_id: str) -> Visit:
    """The visit `visit_id` of the scope's clinic (and, for a patient token, of its own patient); 404
    `not_found` (field `visit_id`) otherwise. Two consistent GetItems (the pointer, the visit). Not audited:
    the caller's own write or read is."""
    return view(load(scope, visit_id))


def require_for_patient(scope: Scope, visit_id: str, patient_id: str) -> Visit:
    """`require`, and the visit must be `patient_id`'s: 422 `visit_patient_mismatch` (field `visit_id`)
    when it is another patient's."""
    visit = require(scope, visit_id)
    if visit.patient_id != patient_id:
        raise InvalidInput("the visit belongs to another patient", code="visit_patient_mismatch", field="visit_id")
    return visit


def require_open_for_patient(scope: Scope, visit_id: str, patient_id: str) -> Visit:
    """`require_for_patient`, and the visit must still be open: a COMPLETED or CANCELLED visit takes no new
    encounter, lab request or charge (409 `visit_closed`, field `visit_id`), so a discharged bill stays what
    the cashier settled. Payments and refunds are not clinical records: they use `require`."""
    visit = require_for_patient(scope, visit_id, patient_id)
    if visit.status in FINAL:
        raise Conflict(f"the visit is {visit.status}: open a new visit for this", code="visit_closed",
                       field="visit_id")  # fmt: skip
    return visit


# --- opening ---------------------------------------------------------------------------------------------


def _open_conflict(scope: Scope, patient_id: str) -> Duplicate:
    existing = repo.open_visit_of(scope.clinic_id, patient_id) or ""
    return Duplicate("the patient already has an open visit (complete or cancel it first)",
                     existing_id=existing, code="visit_already_open")  # fmt: skip


def open_visit(
    scope: Scope,
    *,
    patient_id: str,
    chief_complaint: str,
    triage_category: TriageCategory,
    payment_type: PaymentType,
    payment_reference: str | None = None,
    at: datetime | None = None,
) -> Visit:
    """Opens a visit (REGISTERED) for a registered patient of the clinic, with its consultation charge.
    404 (field `patient_id`) for an unknown or unregistered patient; 409 `visit_already_open` (naming
    `existing_id`) when the patient has an open visit."""
    at = at or datetime.now(UTC)
    patient = patients_repo.load(scope.clinic_id, scope.patient(patient_id))
    if patient is None or patient.op_number is None:
        raise NotFound("no registered patient with this id in your clinic", code="not_found", field="patient_id")
    if repo.open_visit_of(scope.clinic_id, patient_id) is not None:
        raise _open_conflict(scope, patient_id)
    visit_id = uuid.uuid4().hex
    consultation = charges.priced(scope, visit_id, kind=ChargeKind.CONSULTATION, code=charges.CONSULTATION_CODE,
                                  description="Consultation", quantity=1, at=at)  # fmt: skip
    stored = repo.StoredVisit(
        clinic_id=scope.clinic_id, visit_id=visit_id, patient_id=patient_id, status=VisitStatus.REGISTERED.value,
        chief_complaint=chief_complaint, triage_category=triage_category.value, payment_type=payment_type.value,
        payment_reference=payment_reference, day=at.astimezone(clinics.zone(scope.clinic_id)).date().isoformat(),
        opened_at=at, opened_by=scope.actor, updated_at=at, updated_by=scope.actor, version=1,
        charges_minor=consultation.amount_minor, paid_minor=0, discharge_notes=None, completed_at=None,
        follow_up_appointment_id=None,
    )  # fmt: skip
    try:
        with audit.change(scope, "visit.opened", resource="visit", resource_id=visit_id, at=at,
                          patient_id=patient_id) as c:  # fmt: skip
            repo.create(c, stored)
            add_charge(c, scope.clinic_id, patient_id, consultation)
            c.emit("visit.opened", visit_id=visit_id, patient_id=patient_id)
            c.emit("visit.status_changed", visit_id=visit_id, status=stored.status)
    except store.ConditionFailed:
        raise _open_conflict(scope, patient_id) from None  # another visit opened meanwhile
    return view(stored)


# --- reading ---------------------------------------------------------------------------------------------


def get(scope: Scope, visit_id: str) -> Visit:
    visit = require(scope, visit_id)
    audit.read(scope, "visit", [visit.id])
    return visit


def queue(
    scope: Scope, *, day: date | None, status: VisitStatus | None, limit: int, next_token: str | None
) -> Page[Visit]:
    """The clinic's visits opened on `day` (clinic-local; default today), oldest first, optionally of one
    status (a filter on the page: a page may come back short with a `next`)."""
    if day is None:
        day = datetime.now(clinics.zone(scope.clinic_id)).date()
    found = repo.day_page(scope.clinic_id, day.isoformat(), status=status.value if status else None, limit=limit,
                          next_token=next_token)  # fmt: skip
    visits = [view(stored) for stored in found.items]
    audit.read(scope, "visit", [visit.id for visit in visits])
    return Page[Visit](items=visits, next=found.next)


def of_patient(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> Page[Visit]:
    """A patient's visits, newest first; 404 for a patient unknown here (another clinic's included)."""
    if patients_repo.load(scope.clinic_id, scope.patient(patient_id)) is None:
        raise NotFound("no patient with this id in your clinic", code="not_found", field="patient_id")
    found = repo.patient_page(scope.clinic_id, patient_id, limit=limit, next_token=next_token)
    visits = [view(stored) for stored in found.items]
    audit.read(scope, "visit", [visit.id for visit in visits])
    return Page[Visit](items=visits, next=found.next)


# --- changes ---------------------------------------------------------------------------------------------


def _follow_up(scope: Scope, stored: repo.StoredVisit, follow_up: dict[str, Any], at: datetime) -> Any:
    """The discharge's follow-up appointment (not yet written): with the given provider, else the caller."""
    provider = follow_up.get("provider_id") or scope.user_id
    if provider is None:
        raise InvalidInput("follow_up needs a provider_id", code="invalid_request", field="follow_up.provider_id")
    return appointments.prepare(
        scope, patient_id=stored.patient_id, provider_id=provider, day=follow_up["date"], time=follow_up.get("time"),
        duration=follow_up.get("duration_minutes") or appointments.DEFAULT_DURATION, reason=follow_up.get("notes"),
        visit_id=stored.visit_id, at=at, prefix="follow_up.",
    )  # fmt: skip


def _illegal(current: VisitStatus, wanted: VisitStatus) -> Conflict:
    allowed = TRANSITIONS[current]
    names = ", ".join(status.value for status in allowed) or "none (the visit is closed)"
    return Conflict(f"a {current.value} visit cannot become {wanted.value}; allowed: {names}",
                    code="illegal_transition", field="status")  # fmt: skip


def update(
    scope: Scope,
    visit_id: str,
    *,
    status: VisitStatus | None = None,
    fields: dict[str, Any] | None = None,
    discharge_notes: str | None = None,
    follow_up: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Visit:
    """Moves the visit to `status` (when given and different) and/or changes `fields` (chief_complaint,
    triage_category, payment_type, payment_reference). A conditional write: a concurrent change first →
    409 `visit_changed`. COMPLETED takes `discharge_notes` (event `visit.discharged`)."""
    at = at or datetime.now(UTC)
    stored = load(scope, visit_id)
    current = VisitStatus(stored.status)
    changes: dict[str, Any] = {name: (value.value if isinstance(value, StrEnum) else value)
                               for name, value in (fields or {}).items()}  # fmt: skip
    moving = status is not None and status is not current
    if current in FINAL and (changes or moving or discharge_notes):
        raise _illegal(current, status or current)
    if moving:
        assert status is not None
        if status not in TRANSITIONS[current]:
            raise _illegal(current, status)
        changes["status"] = status.value
    if discharge_notes is not None:
        if status is not VisitStatus.COMPLETED or not moving:
            raise InvalidInput("discharge_notes go with status COMPLETED", code="invalid_request",
                               field="discharge_notes")  # fmt: skip
        changes["discharge_notes"] = discharge_notes
    if moving and status is VisitStatus.COMPLETED:
        changes["completed_at"] = at
    booked = None
    if follow_up is not None:
        if status is not VisitStatus.COMPLETED or not moving:
            raise InvalidInput("follow_up goes with status COMPLETED", code="invalid_request", field="follow_up")
        booked = _follow_up(scope, stored, follow_up, at)
        changes["follow_up_appointment_id"] = booked.appointment_id
    if not changes:
        return view(stored)
    action = "visit.status_changed" if moving else "visit.updated"
    try:
        with audit.change(scope, action, resource="visit", resource_id=visit_id, at=at,
                          **({"status": changes["status"]} if moving else {})) as c:  # fmt: skip
            repo.edit(c, stored, changes, at=at, by=scope.actor)
            if moving and status in FINAL:
                repo.release_open(c, scope.clinic_id, stored.patient_id, visit_id)
            if booked is not None:
                appointments.write_new(c, scope, booked)
            if moving:
                assert status is not None
                c.emit("visit.status_changed", visit_id=visit_id, status=status.value)
                if status is VisitStatus.COMPLETED:
                    c.emit("visit.discharged", visit_id=visit_id, patient_id=stored.patient_id)
            else:
                c.emit("visit.updated", visit_id=visit_id)
    except store.ConditionFailed:
        if booked is not None and repo.load(scope.clinic_id, stored.patient_id, visit_id) == stored:
            raise Conflict("the provider is already booked at the follow-up's time", code="slot_taken",
                           field="follow_up.time") from None  # fmt: skip
        raise Conflict("the visit changed meanwhile; reload it and retry", code="visit_changed",
                       field="status") from None  # fmt: skip
    fresh = repo.load(scope.clinic_id, stored.patient_id, visit_id)
    assert fresh is not None
    return view(fresh)
