"""The doctor's dashboard (seed 000, "Dashboard Analytics" and "Compliance Calculation Detail"): the clinic's
summary, its recent activity and its overdue patients, read from what writes keep (counters, scan plans and their
due entries: services/scan_compliance.py; time-ordered keys of sessions, messages and tag sets), never by reading
every session or patient. Every answer costs the same few calls whatever the clinic's size (the overdue count
excepted: one COUNT Query per megabyte of overdue entries). See docs/portal.md "Dashboard".
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel

from chalicelib.db import dashboard as repo
from chalicelib.db import messaging as messaging_db
from chalicelib.db import patients as patients_repo
from chalicelib.db import scans as scans_db
from chalicelib.db import tagging as tagging_db
from chalicelib.services import audit, patients, tagging
from chalicelib.services.scope import Scope

FEED_SCANS, FEED_MESSAGES, FEED_TAG_SETS = 20, 10, 10  # seed 000: "20 recent scans, 10 messages, 10 tag sets"


class Summary(BaseModel):
    pending_scans: int  # sessions PENDING now
    total_patients: int  # the clinic's active (registered) patients
    compliance_percentage: float  # % of enrolled patients on time; 0 with none enrolled
    tagging_rate: float  # % (GET /tagging/analytics' figure: the last 30 days)


class ComplianceTotals(BaseModel):
    enrolled: int  # patients in remote scanning (a portal account)
    on_time: int
    overdue: int
    compliance_percentage: float


class OverduePatient(BaseModel):
    patient_id: str
    op_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    enrolled_at: datetime
    last_scan_at: datetime | None = None  # null: never scanned (due from enrolment)
    scan_frequency: int  # days
    due_at: date  # the last day on time
    days_overdue: int


class Compliance(BaseModel):
    items: list[OverduePatient]  # longest overdue first
    next: str | None = None
    totals: ComplianceTotals
    as_of: date  # the UTC day the rule was applied on


class FeedEntry(BaseModel):
    kind: Literal["scan", "message", "tag_set"]
    at: datetime  # scan: opened; message: sent; tag_set: submitted
    patient_id: str
    session_id: str | None = None  # scan, tag_set
    status: str | None = None  # scan: PENDING | REVIEWED
    image_count: int | None = None  # scan
    thread_id: str | None = None  # message
    message_id: str | None = None  # message
    sender_type: str | None = None  # message: DOCTOR | STAFF | PATIENT (never the content)
    tag_set_id: str | None = None  # tag_set
    tagged_by_id: str | None = None  # tag_set


class Feed(BaseModel):
    items: list[FeedEntry]  # newest first


def percentage(part: int, whole: int) -> float:
    """part / whole in %, two decimals (as the tagging rate); 0 without a denominator."""
    return round(100.0 * part / whole, 2) if whole > 0 else 0.0


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


def _totals(scope: Scope, enrolled: int, today: date) -> ComplianceTotals:
    overdue = repo.overdue_count(scope.clinic_id, today)
    enrolled = max(enrolled, overdue)  # plans written before the enrolled counter existed
    on_time = enrolled - overdue
    return ComplianceTotals(enrolled=enrolled, on_time=on_time, overdue=overdue,
                            compliance_percentage=percentage(on_time, enrolled))  # fmt: skip


def summary(scope: Scope, *, today: date | None = None) -> Summary:
    counters = repo.counters(scope.clinic_id)
    totals = _totals(scope, counters.get("enrolled_patients", 0), _today(today))
    return Summary(
        pending_scans=max(0, counters.get("pending_scans", 0)),
        total_patients=max(0, counters.get("active_patients", 0)),
        compliance_percentage=totals.compliance_percentage,
        tagging_rate=tagging.analytics(scope).tagging_rate,
    )


def compliance(scope: Scope, *, limit: int, next_token: str | None, today: date | None = None) -> Compliance:
    """The patients overdue today, longest overdue first (a page), with the clinic's totals."""
    day = _today(today)
    page = repo.overdue(scope.clinic_id, day, limit=limit, next_token=next_token)
    records = patients_repo.load_many(scope.clinic_id, [plan.patient_id for plan in page.items]) if page.items else {}
    items = []
    for plan in page.items:
        stored = records.get(plan.patient_id)
        shown = patients.view(stored) if stored is not None else None
        items.append(OverduePatient(
            patient_id=plan.patient_id, op_number=shown.op_number if shown else None,
            first_name=shown.first_name if shown else None, last_name=shown.last_name if shown else None,
            enrolled_at=plan.enrolled_at, last_scan_at=plan.last_scan_at, scan_frequency=plan.scan_frequency,
            due_at=plan.due_on, days_overdue=(day - plan.due_on).days,
        ))  # fmt: skip
    audit.read(scope, "patient", [item.patient_id for item in items])
    totals = _totals(scope, repo.counters(scope.clinic_id).get("enrolled_patients", 0), day)
    return Compliance(items=items, next=page.next, totals=totals, as_of=day)


def feed(scope: Scope) -> Feed:
    """The clinic's 20 newest scan sessions, 10 newest messages and 10 newest tag sets, merged newest first."""
    entries = [
        FeedEntry(kind="scan", at=item.created_at, patient_id=item.patient_id, session_id=item.session_id,
                  status=item.status, image_count=int(item.image_count or 0))
        for item in scans_db.recent_sessions(scope.clinic_id, limit=FEED_SCANS)
    ]  # fmt: skip
    entries += [
        FeedEntry(kind="message", at=message.created_at, patient_id=message.patient_id, thread_id=message.thread_id,
                  message_id=message.message_id, sender_type=message.sender_type)
        for message in messaging_db.recent_messages(scope.clinic_id, limit=FEED_MESSAGES)
    ]  # fmt: skip
    entries += [
        FeedEntry(kind="tag_set", at=item.created_at, patient_id=item.patient_id, session_id=item.session_id,
                  tag_set_id=item.tag_set_id, tagged_by_id=item.tagged_by_id)
        for item in tagging_db.recent_tag_sets(scope.clinic_id, limit=FEED_TAG_SETS)
    ]  # fmt: skip
    entries.sort(key=lambda entry: entry.at, reverse=True)
    audit.read(scope, "patient", [entry.patient_id for entry in entries])
    return Feed(items=entries)
