"""Lab requests: ordering (specimen ids from a per-clinic counter), the lab's worklist, manual results, and the
analyzer results ingest attaches by specimen / order number (docs/journey.md, "Lab").

Status: PENDING (nothing yet) → PARTIAL (some ordered tests have a result) → COMPLETED (every ordered test
has one); CANCELLED by hand before any result. A completed or cancelled request is never reopened silently:
a manual entry is a 409, and ingest leaves it alone (the analyzer's results stay the patient's readings).
An ordered test counts as resulted when a result's code, or the code of the order it answers (OBR-4), is
the test's code (case-insensitive).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.db import keys, store
from chalicelib.db import lab as repo
from chalicelib.db import patients as patients_repo
from chalicelib.errors import Conflict, InvalidInput, NotFound, Unavailable
from chalicelib.models import Page
from chalicelib.services import audit, charges, lab_order, sequences, visits
from chalicelib.services.scope import Scope
from chalicelib.services.sequences import Sequence
from shared_models import Envelope, LabObservation

LAB_TEST = charges.ChargeKind.LAB_TEST
log = logging.getLogger("medflow.lab")

Urgency = Literal["NORMAL", "URGENT", "STAT"]
Status = Literal["PENDING", "PARTIAL", "COMPLETED", "CANCELLED"]
CLOSED = ("COMPLETED", "CANCELLED")
# HL7 table 0078 and E1394 abnormal flags meaning a panic value: HH / LL (above / below the panic limits) and
# AA (critically abnormal, for non-numeric results). Seen in the corpus: OBX-8 HH (NIST LRI CBC), AA (CDC
# MERS-CoV), ASTM R-7 HH (Horiba Pentra XLR). HemoScreen's '*' only says abnormal cells may affect the value.
CRITICAL_FLAGS = frozenset({"HH", "LL", "AA"})
LINK_ATTEMPTS = 10  # ingest against concurrent manual entries: reload and retry


class LabTest(BaseModel):
    code: str
    name: str


class LabResult(BaseModel):
    code: str
    name: str | None = None
    value: str
    unit: str | None = None
    reference_range: str | None = None
    flag: str | None = None  # the first abnormal flag (HL7 OBX-8, ASTM R-7, or as entered)
    flags: list[str] = []
    critical: bool = False
    source: Literal["manual", "analyzer"]
    order_code: str | None = None  # the order (OBR-4) an analyzer result answers
    specimen_id: str | None = None
    instrument: str | None = None
    observed_at: str | None = None
    envelope_id: str | None = None  # the capture an analyzer result came in
    entered_by: str | None = None
    entered_at: str


class LabRequest(BaseModel):
    id: str
    patient_id: str
    visit_id: str | None = None
    specimen_id: str
    status: Status
    urgency: Urgency
    tests: list[LabTest]
    notes: str | None = None
    results: list[LabResult] = []
    missing: list[str] = []  # ordered test codes without a result yet
    requested_at: str
    requested_by: str
    updated_at: str | None = None
    completed_at: str | None = None
    completed_by: str | None = None
    version: int


def view(row: repo.LabRequestItem) -> LabRequest:
    tests = [LabTest.model_validate(test) for test in row.tests or []]
    results = [LabResult.model_validate(result) for result in row.results or []]
    return LabRequest(
        id=row.request_id, patient_id=row.patient_id, visit_id=row.visit_id, specimen_id=row.specimen_id,
        status=row.status, urgency=row.urgency, tests=tests, notes=row.notes, results=results,
        missing=_missing(row.tests or [], row.results or []), requested_at=row.requested_at,
        requested_by=row.requested_by, updated_at=row.updated_at, completed_at=row.completed_at,
        completed_by=row.completed_by, version=int(row.version),
    )  # fmt: skip


def specimen_id(sequence: int) -> str:
    """`L` + the clinic's sequence, 7+ digits: short for a tube label and an analyzer's keypad, and only
    letters and digits, so it is safe in any HL7 or ASTM field (no ^ | ~ \\ &)."""
    return f"L{sequence:07d}"


# --- ordering --------------------------------------------------------------------------------------------


def create(
    scope: Scope,
    patient_id: str,
    visit_id: str,
    tests: list[LabTest],
    urgency: Urgency,
    notes: str | None,
    *,
    at: datetime | None = None,
) -> LabRequest:
    """A request for `tests` under the patient's visit, with the clinic's next specimen id; one LAB_TEST charge
    per test on the visit's bill, in the same transaction."""
    at = at or datetime.now(UTC)
    patient_id = scope.patient(patient_id)
    if patients_repo.load(scope.clinic_id, patient_id) is None:
        raise NotFound("no patient with this id in your clinic", code="not_found", field="patient_id")
    _no_duplicate_tests(tests)
    visit = visits.require_open_for_patient(scope, visit_id, patient_id)
    request_id = uuid.uuid4().hex
    requested = keys.sortable_time(at)
    for current in sequences.attempts(scope.clinic_id, Sequence.LAB):
        values: dict[str, Any] = {
            "visit_id": visit_id, "specimen_id": specimen_id(current + 1), "status": "PENDING",
            "urgency": urgency, "tests": [test.model_dump() for test in tests], "notes": notes,
            "results": [], "requested_at": at.isoformat(), "requested_by": scope.actor,
        }  # fmt: skip
        item = repo.new_item(scope.clinic_id, patient_id, request_id, requested, values)
        try:
            with audit.change(scope, "lab_request.created", resource="lab_request", resource_id=request_id,
                              at=at, patient_id=patient_id) as c:  # fmt: skip
                sequences.advance(c, scope.clinic_id, Sequence.LAB, current)
                repo.create(c, item)
                for test in tests:
                    charges.add(c, scope, visit, kind=LAB_TEST, code=test.code, description=test.name)
                c.emit("lab.requested", lab_request_id=request_id, patient_id=patient_id, visit_id=visit_id,
                       specimen_id=item.specimen_id)  # fmt: skip
        except (store.ConditionFailed, store.Contention):
            continue  # another request took this specimen number: try the next one
        return view(item)
    raise AssertionError("unreachable: sequences.attempts raises when every try is lost")


def _no_duplicate_tests(tests: list[LabTest]) -> None:
    seen: set[str] = set()
    for index, test in enumerate(tests):
        code = test.code.upper()
        if code in seen:
            raise InvalidInput(f"test {test.code!r} is ordered twice", code="duplicate_test",
                               field=f"tests.{index}.code")  # fmt: skip
        seen.add(code)


# --- reading ---------------------------------------------------------------------------------------------


def _load(scope: Scope, request_id: str) -> repo.LabRequestItem:
    found = repo.pointer(scope.clinic_id, repo.id_pointer_sk(request_id))
    if found is not None and (scope.patient_id is None or found.patient_id == scope.patient_id):
        row = repo.load(scope.clinic_id, found.patient_id, found.request_sk)
        if row is not None:
            return row
    # The same answer for an unknown id and another clinic's (or another patient's): existence must not leak.
    raise NotFound("no lab request with this id in your clinic", code="not_found")


def get(scope: Scope, request_id: str) -> LabRequest:
    request = view(_load(scope, request_id))
    audit.read(scope, "lab_request", [request.id])
    return request


def worklist(scope: Scope, status: Status, *, limit: int, next_token: str | None) -> Page[LabRequest]:
    """The clinic's requests of one status, oldest first: the lab's queue."""
    found = repo.worklist(scope.clinic_id, status, limit=limit, next_token=next_token)
    return _page(scope, found)


def of_patient(scope: Scope, patient_id: str, *, limit: int, next_token: str | None) -> Page[LabRequest]:
    """A patient's requests, newest first (404 for an unknown patient or another clinic's)."""
    patient_id = scope.patient(patient_id)
    if patients_repo.load(scope.clinic_id, patient_id) is None:
        raise NotFound("no patient with this id in your clinic", code="not_found")
    return _page(scope, repo.of_patient(scope.clinic_id, patient_id, limit=limit, next_token=next_token))


def _page(scope: Scope, found: store.Page[repo.LabRequestItem]) -> Page[LabRequest]:
    items = [view(row) for row in found.items]
    audit.read(scope, "lab_request", [item.id for item in items])
    return Page[LabRequest](items=items, next=found.next)


# --- results ---------------------------------------------------------------------------------------------


def enter_results(
    scope: Scope,
    request_id: str,
    entries: list[dict[str, Any]],
    status: Literal["COMPLETED", "CANCELLED"] | None,
    *,
    at: datetime | None = None,
) -> LabRequest:
    """Manual results (the lab technician): only for ordered tests; a result replaces the test's earlier one.
    `status` COMPLETED insists every ordered test has a result (422 naming the missing); CANCELLED only
    before any result."""
    at = at or datetime.now(UTC)
    row = _load(scope, request_id)
    if row.status in CLOSED:
        raise Conflict(f"the lab request is {row.status}; it is not reopened", code="lab_request_closed",
                       field="status")  # fmt: skip
    ordered = {str(test["code"]).upper() for test in row.tests or []}
    for index, entry in enumerate(entries):
        if entry["code"].upper() not in ordered:
            raise InvalidInput(f"test {entry['code']!r} was not ordered on this request", code="test_not_ordered",
                               field=f"results.{index}.code")  # fmt: skip
    if status == "CANCELLED":
        if entries or row.results:
            raise Conflict("a lab request with results cannot be cancelled", code="lab_request_has_results",
                           field="status")  # fmt: skip
        return _save(scope, row, [], "CANCELLED", at, new=[], action="lab_request.cancelled")
    new = [_manual(entry, scope, at) for entry in entries]
    results = _merge(row.results or [], new)
    missing = _missing(row.tests or [], results)
    if status == "COMPLETED" and missing:
        raise InvalidInput(f"no result yet for {', '.join(missing)}", code="results_missing", field="results")
    if not new:
        raise InvalidInput("give at least one result (or status CANCELLED)", code="invalid_request", field="results")
    return _save(scope, row, results, _status_of(missing, results), at, new=new, action="lab_request.results_entered")


def _save(
    scope: Scope,
    row: repo.LabRequestItem,
    results: list[dict[str, Any]],
    status: str,
    at: datetime,
    *,
    new: list[dict[str, Any]],
    action: str,
) -> LabRequest:
    try:
        with audit.change(scope, action, resource="lab_request", resource_id=row.request_id, at=at,
                          patient_id=row.patient_id, status=status) as c:  # fmt: skip
            repo.record_results(c, row, results=results, status=status, at=at.isoformat(),
                                by=scope.actor if status == "COMPLETED" else None)  # fmt: skip
            _emit(c, row, status, new)
    except (store.ConditionFailed, store.Contention):
        raise Conflict("the lab request changed meanwhile (results arrived); reload and retry",
                       code="edit_conflict") from None  # fmt: skip
    fresh = repo.load(row.clinic_id, row.patient_id, row.sk)
    assert fresh is not None
    return view(fresh)


def _emit(c: audit.Change, row: repo.LabRequestItem, status: str, new: list[dict[str, Any]]) -> None:
    """`lab.results_ready` for new results; `lab.critical` naming the codes flagged critical (ids and codes,
    never values)."""
    if not new:
        return
    c.emit("lab.results_ready", lab_request_id=row.request_id, patient_id=row.patient_id,
           specimen_id=row.specimen_id, status=status)  # fmt: skip
    critical = list(dict.fromkeys(result["code"] for result in new if result.get("critical")))
    if critical:
        c.emit("lab.critical", lab_request_id=row.request_id, patient_id=row.patient_id,
               specimen_id=row.specimen_id, codes=",".join(critical))  # fmt: skip


def _manual(entry: dict[str, Any], scope: Scope, at: datetime) -> dict[str, Any]:
    flag = (entry.get("flag") or "").strip().upper() or None
    result = LabResult(
        code=entry["code"], value=entry["value"], unit=entry.get("unit"), reference_range=entry.get("reference_range"),
        flag=flag, flags=[flag] if flag else [], critical=flag in CRITICAL_FLAGS, source="manual",
        entered_by=scope.actor, entered_at=at.isoformat(),
    )  # fmt: skip
    return result.model_dump(exclude_none=True)


def _merge(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results after `new`: a new result replaces an earlier one of the same code (the latest run wins)."""
    replaced = {result["code"].upper() for result in new}
    return [result for result in existing if result["code"].upper() not in replaced] + new


def _missing(tests: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[str]:
    resulted = {str(r["code"]).upper() for r in results} | {str(r["order_code"]).upper() for r in results
                                                              if r.get("order_code")}  # fmt: skip
    return [str(test["code"]) for test in tests if str(test["code"]).upper() not in resulted]


def _status_of(missing: list[str], results: list[dict[str, Any]]) -> str:
    if not results:
        return "PENDING"
    return "PARTIAL" if missing else "COMPLETED"


# --- analyzer results (ingest) ---------------------------------------------------------------------------


def candidate_ids(reading: LabObservation) -> list[str]:
    """The numbers an analyzer result may carry a specimen id in: SPM-2 / ASTM O-3 (`specimen_id`), OBR-3
    (filler order number), OBR-2 (placer order number), and the adapter's `order_id`."""
    found = (reading.specimen_id, reading.filler_order_id, reading.placer_order_id, reading.order_id)
    return list(dict.fromkeys(str(value).strip() for value in found if value and str(value).strip()))


def link_results(envelope: Envelope, patient_id: str, *, at: datetime) -> list[str]:
    """Attaches an envelope's lab results to the requests whose specimen id they carry (one GetItem per
    distinct id, one transaction per request). Only a request of the same patient is completed; a
    redelivered envelope changes nothing. Returns the ids of the requests changed."""
    scope = Scope.system(envelope.clinic_id, audit.SYSTEM_INGEST)
    pointers: dict[str, repo.LabPointerItem | None] = {}
    groups: dict[str, tuple[repo.LabPointerItem, list[tuple[int, LabObservation]]]] = {}
    for index, reading in enumerate(envelope.readings):
        if not isinstance(reading, LabObservation):
            continue
        found = _pointer_for(envelope.clinic_id, candidate_ids(reading), pointers)
        if found is None:
            continue
        if found.patient_id != patient_id:
            # Never attach one patient's results to another's request; they stay the sender's readings.
            log.warning("lab result specimen names another patient's request",
                        extra={"envelope_id": envelope.envelope_id, "lab_request_id": found.request_id})  # fmt: skip
            continue
        groups.setdefault(found.request_id, (found, []))[1].append((index, reading))
    changed = []
    for found, readings in groups.values():
        if _attach(scope, found, envelope, readings, at):
            changed.append(found.request_id)
    return changed


def _pointer_for(
    clinic_id: str, candidates: Iterable[str], cache: dict[str, repo.LabPointerItem | None]
) -> repo.LabPointerItem | None:
    for candidate in candidates:
        if candidate not in cache:
            cache[candidate] = repo.pointer(clinic_id, repo.specimen_pointer_sk(candidate))
        if cache[candidate] is not None:
            return cache[candidate]
    return None


def _attach(
    scope: Scope,
    found: repo.LabPointerItem,
    envelope: Envelope,
    readings: list[tuple[int, LabObservation]],
    at: datetime,
) -> bool:
    for _ in range(LINK_ATTEMPTS):
        row = repo.load(scope.clinic_id, found.patient_id, found.request_sk)
        if row is None or envelope.envelope_id in (row.linked or set()) or row.status in CLOSED:
            return False
        new = [_analyzer(reading, envelope, at) for _, reading in readings]
        results = _merge(row.results or [], new)
        status = _status_of(_missing(row.tests or [], results), results)
        try:
            with audit.change(scope, "lab_request.results_attached", resource="lab_request",
                              resource_id=row.request_id, at=at, patient_id=row.patient_id, status=status,
                              envelope_id=envelope.envelope_id) as c:  # fmt: skip
                repo.record_results(c, row, results=results, status=status, at=at.isoformat(),
                                    by=audit.SYSTEM_INGEST, envelope_id=envelope.envelope_id)  # fmt: skip
                _emit(c, row, status, new)
        except (store.ConditionFailed, store.Contention):
            continue  # a manual entry (or a parallel delivery) came first: reload and decide again
        return True
    raise Unavailable(f"lab request {found.request_id} kept changing; the message is retried", code="lab_busy")


def _analyzer(reading: LabObservation, envelope: Envelope, at: datetime) -> dict[str, Any]:
    flags = [flag.strip().upper() for flag in reading.flags if flag and flag.strip()]
    result = LabResult(
        code=reading.code, name=reading.name, value=reading.value, unit=reading.unit,
        reference_range=reading.reference_range, flag=flags[0] if flags else None, flags=flags,
        critical=any(flag in CRITICAL_FLAGS for flag in flags), source="analyzer",
        order_code=reading.order_code, specimen_id=reading.specimen_id, instrument=reading.instrument,
        observed_at=reading.observed_at.isoformat() if reading.observed_at else None,
        envelope_id=envelope.envelope_id, entered_by=audit.SYSTEM_INGEST, entered_at=at.isoformat(),
    )  # fmt: skip
    return result.model_dump(exclude_none=True)


# --- the order for the analyzer --------------------------------------------------------------------------


def order_message(scope: Scope, request_id: str, *, now: datetime | None = None) -> dict[str, str]:
    """The request as an HL7 OML^O21 (services/lab_order.py); a read of the request and of its patient's
    identifiers, audited as a read of the request."""
    row = _load(scope, request_id)
    stored = patients_repo.load(scope.clinic_id, row.patient_id)
    patient = lab_order.OrderPatient(patient_id=row.patient_id)
    if stored is not None:
        patient = lab_order.OrderPatient(
            patient_id=row.patient_id, op_number=stored.op_number, last_name=stored.last_name or stored.family_name,
            first_name=stored.first_name or stored.given_name, date_of_birth=stored.date_of_birth,
            sex=stored.registered_sex,
        )  # fmt: skip
    text = lab_order.oml_o21(
        clinic_id=scope.clinic_id, control_id=uuid.uuid4().hex[:20], patient=patient, specimen_id=row.specimen_id,
        urgency=row.urgency, tests=[(str(t["code"]), str(t["name"])) for t in row.tests or []],
        requested_at=datetime.fromisoformat(row.requested_at), now=now or datetime.now(UTC),
    )  # fmt: skip
    audit.read(scope, "lab_request", [row.request_id])
    return {"lab_request_id": row.request_id, "specimen_id": row.specimen_id,
            "message_type": lab_order.MESSAGE_TYPE, "message": text}  # fmt: skip
