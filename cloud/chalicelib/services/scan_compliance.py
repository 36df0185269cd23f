"""Scan compliance kept on write (seed 000, "Compliance Calculation Detail"): what each transaction that opens,
reviews or reopens a scan session, registers a patient, opens a portal account or changes a scan frequency adds
to its own change, so that the dashboard (services/dashboard.py) reads counters and due dates, never sessions.

A patient is *enrolled* in remote scanning from the portal account's registration (or, for an account older than
this bookkeeping, its first session). From then on its plan says when it falls due: the UTC day of its last
session (or of enrolment, before the first) plus its scan frequency (days, default 14). On time while today is
at most that day ("days since the last scan ≤ the frequency"); overdue from the day after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.db import dashboard as repo
from chalicelib.db.dashboard import ScanPlan
from chalicelib.models import StoredPatient

DEFAULT_FREQUENCY = 14  # days (seed 000: "patient.scanFrequency (default: 14 days)")
MIN_FREQUENCY, MAX_FREQUENCY = 1, 365


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def frequency_of(patient: StoredPatient | None) -> int:
    """The patient's scan frequency in days: the one staff set, else the default."""
    if patient is None or patient.scan_frequency is None:
        return DEFAULT_FREQUENCY
    return patient.scan_frequency


def _due(since: datetime, frequency: int) -> date:
    return utc_day(since) + timedelta(days=frequency)


def enrolment(patient_id: str, at: datetime, frequency: int) -> ScanPlan:
    """A new plan: due `frequency` days after enrolment until the first session."""
    return ScanPlan(patient_id=patient_id, scan_frequency=frequency, enrolled_at=at, last_scan_at=None,
                    due_on=_due(at, frequency), version=1)  # fmt: skip


def after_scan(previous: ScanPlan | None, patient_id: str, at: datetime, frequency: int) -> ScanPlan:
    """The plan once a session was opened at `at` (an unenrolled patient is enrolled by it)."""
    if previous is None:
        return ScanPlan(patient_id=patient_id, scan_frequency=frequency, enrolled_at=at, last_scan_at=at,
                        due_on=_due(at, frequency), version=1)  # fmt: skip
    last = at if previous.last_scan_at is None else max(previous.last_scan_at, at)
    return ScanPlan(patient_id=patient_id, scan_frequency=previous.scan_frequency, enrolled_at=previous.enrolled_at,
                    last_scan_at=last, due_on=_due(last, previous.scan_frequency),
                    version=previous.version + 1)  # fmt: skip


def with_frequency(previous: ScanPlan, frequency: int) -> ScanPlan:
    since = previous.last_scan_at or previous.enrolled_at
    return ScanPlan(patient_id=previous.patient_id, scan_frequency=frequency, enrolled_at=previous.enrolled_at,
                    last_scan_at=previous.last_scan_at, due_on=_due(since, frequency),
                    version=previous.version + 1)  # fmt: skip


# --- what each change adds ----------------------------------------------------------------------------------


def enrol(change: Any, clinic_id: str, new: ScanPlan) -> None:
    """A portal account was opened: the patient's plan, its due entry, one more enrolled patient."""
    repo.put_plan(change, clinic_id, new, None)
    repo.count(change, clinic_id, repo.PATIENTS, {"enrolled_patients": 1})


def scanned(change: Any, clinic_id: str, new: ScanPlan, previous: ScanPlan | None) -> None:
    """A session was opened: the plan's last scan and due entry move (a first plan also enrols)."""
    repo.put_plan(change, clinic_id, new, previous)
    if previous is None:
        repo.count(change, clinic_id, repo.PATIENTS, {"enrolled_patients": 1})


def frequency_changed(change: Any, clinic_id: str, patient_id: str, frequency: int, previous: ScanPlan | None) -> None:
    """Staff changed the patient's scan frequency: an enrolled patient's due entry moves; for one not enrolled
    the change only checks it still is not (its enrolment will read the new frequency)."""
    if previous is None:
        repo.check_no_plan(change, clinic_id, patient_id)
        return
    repo.put_plan(change, clinic_id, with_frequency(previous, frequency), previous)


def pending(change: Any, clinic_id: str, delta: int) -> None:
    """A session became PENDING (+1: opened, reopened) or stopped being so (-1: reviewed, tagged)."""
    repo.count(change, clinic_id, repo.SCANS, {"pending_scans": delta})


def registered(change: Any, clinic_id: str) -> None:
    """A patient was registered (the clinic's active patients: no status, deactivation or merge exists)."""
    repo.count(change, clinic_id, repo.PATIENTS, {"active_patients": 1})


def plan(clinic_id: str, patient_id: str) -> ScanPlan | None:
    return repo.plan(clinic_id, patient_id)
