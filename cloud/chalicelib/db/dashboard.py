"""Dashboard repository: the clinic's counters and each enrolled patient's scan plan and due entry (directory table,
partition `CLINIC#c`), all kept on write by the transactions that change what they count, so that the dashboard
reads a handful of items whatever the clinic's size.

    CLINIC#c / DASHBOARD#COUNTER#SCANS              pending_scans: sessions PENDING now
    CLINIC#c / DASHBOARD#COUNTER#PATIENTS           active_patients (registered), enrolled_patients (scan plans)
    CLINIC#c / SCANPLAN#{patient}                   the patient's plan: scan_frequency, enrolled_at, last_scan_at,
                                                    due_on (the day after which the patient is overdue), version
    CLINIC#c / SCANDUE#{due_on}#{patient}           one per plan, moved whenever due_on moves: the clinic's
                                                    patients in due order, so "overdue" is one range of keys

Two counter items, not one: registrations and scan sessions do not contend for one item. Counters may be read
below zero for sessions opened before the counters existed (reviewing one takes 1 off); readers clamp at 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store

COUNTER_PREFIX = "DASHBOARD#COUNTER#"
SCANS, PATIENTS = "SCANS", "PATIENTS"
DUE_PREFIX = "SCANDUE#"


class CounterItem(store.DirectoryItem):
    """One group of the clinic's counters; absent attributes are 0 (ADD creates them)."""

    class Meta:
        table_name = store.UNBOUND

    pending_scans = NumberAttribute(null=True)
    active_patients = NumberAttribute(null=True)
    enrolled_patients = NumberAttribute(null=True)


class ScanPlanItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()
    scan_frequency = NumberAttribute()
    enrolled_at = UTCDateTimeAttribute()
    last_scan_at = UTCDateTimeAttribute(null=True)
    due_on = UnicodeAttribute()  # ISO date
    version = NumberAttribute()


class ScanDueItem(store.DirectoryItem):
    """A copy of the plan under a key ordered by due date (what the overdue list pages through)."""

    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()
    scan_frequency = NumberAttribute()
    enrolled_at = UTCDateTimeAttribute()
    last_scan_at = UTCDateTimeAttribute(null=True)
    due_on = UnicodeAttribute()


ITEMS = (CounterItem, ScanPlanItem, ScanDueItem)


@dataclass(frozen=True)
class ScanPlan:
    patient_id: str
    scan_frequency: int
    enrolled_at: datetime
    last_scan_at: datetime | None
    due_on: date
    version: int


def plan_sk(patient_id: str) -> str:
    return f"SCANPLAN#{keys.segment(patient_id)}"


def due_sk(due_on: date, patient_id: str) -> str:
    return f"{DUE_PREFIX}{due_on.isoformat()}#{keys.segment(patient_id)}"


def _plan(row: ScanPlanItem | ScanDueItem, version: int = 0) -> ScanPlan:
    return ScanPlan(
        patient_id=row.patient_id, scan_frequency=int(row.scan_frequency), enrolled_at=row.enrolled_at,
        last_scan_at=row.last_scan_at, due_on=date.fromisoformat(row.due_on), version=version,
    )  # fmt: skip


# --- reading ---------------------------------------------------------------------------------------------


def counters(clinic_id: str) -> dict[str, int]:
    """Every counter of the clinic: one Query of the counter items."""
    page = store.query_page(CounterItem, keys.clinic_pk(clinic_id), prefix=COUNTER_PREFIX, limit=10, next_token=None)
    totals: dict[str, int] = {}
    for row in page.items:
        for name in ("pending_scans", "active_patients", "enrolled_patients"):
            value = getattr(row, name)
            if value is not None:
                totals[name] = totals.get(name, 0) + int(value)
    return totals


def plan(clinic_id: str, patient_id: str) -> ScanPlan | None:
    row = store.get(ScanPlanItem, keys.clinic_pk(clinic_id), plan_sk(patient_id))
    return None if row is None else _plan(row, int(row.version))


def _overdue_range(today: date) -> tuple[str, str]:
    # Overdue: due_on < today. `SCANDUE#{today}` itself is never a key (a patient id always follows), and every
    # key of an earlier day sorts below it (fixed-width ISO dates).
    return DUE_PREFIX, f"{DUE_PREFIX}{today.isoformat()}"


def overdue_count(clinic_id: str, today: date) -> int:
    """How many plans fell due before `today`: a Query with Select COUNT (one call per MB of due entries)."""
    store.bound()
    low, high = _overdue_range(today)
    return int(ScanDueItem.count(keys.clinic_pk(clinic_id), ScanDueItem.sk.between(low, high), consistent_read=True))


def overdue(clinic_id: str, today: date, *, limit: int, next_token: str | None) -> store.Page[ScanPlan]:
    """The plans that fell due before `today`, longest overdue first: one Query."""
    page = store.query_page(ScanDueItem, keys.clinic_pk(clinic_id), between=_overdue_range(today), limit=limit,
                            next_token=next_token)  # fmt: skip
    return store.Page([_plan(row) for row in page.items], page.next)


# --- writing (inside a change) ---------------------------------------------------------------------------


def count(change: Any, clinic_id: str, group: str, increments: dict[str, int]) -> None:
    """Adds to one counter item within `change`: one update per item and change."""
    actions = [getattr(CounterItem, name).add(amount) for name, amount in increments.items() if amount]
    if actions:
        change.update(CounterItem(keys.clinic_pk(clinic_id), f"{COUNTER_PREFIX}{group}"), actions=actions)


def put_plan(change: Any, clinic_id: str, new: ScanPlan, previous: ScanPlan | None) -> None:
    """Writes the plan (its version one past `previous`'s, which must still be the stored one: a plan never moves
    from under a concurrent writer) and moves its due entry to the new due date."""
    pk = keys.clinic_pk(clinic_id)
    condition = ScanPlanItem.pk.does_not_exist() if previous is None else ScanPlanItem.version == previous.version
    values: dict[str, Any] = {
        "patient_id": new.patient_id, "scan_frequency": new.scan_frequency, "enrolled_at": new.enrolled_at,
        "last_scan_at": new.last_scan_at, "due_on": new.due_on.isoformat(),
    }  # fmt: skip
    change.save(ScanPlanItem(pk, plan_sk(new.patient_id), version=new.version, **values), condition=condition)
    if previous is not None and previous.due_on != new.due_on:
        change.delete(ScanDueItem(pk, due_sk(previous.due_on, previous.patient_id)))
    change.save(ScanDueItem(pk, due_sk(new.due_on, new.patient_id), **values))


def check_no_plan(change: Any, clinic_id: str, patient_id: str) -> None:
    """The patient still has no plan (a concurrent enrolment would otherwise miss a frequency set meanwhile)."""
    change.check(ScanPlanItem(keys.clinic_pk(clinic_id), plan_sk(patient_id)), ScanPlanItem.pk.does_not_exist())
