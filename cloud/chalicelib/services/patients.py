"""Patients: registration (OP numbers, duplicates), the merged patient record, staff edits, search.

One record per patient id (`db/patients.py`) collects what registration, staff edits, HL7 ADT updates and
device readings say about that patient. Merge rule on reading (docs/patients.md): a field entered by staff
(registration or PATCH) always wins; an ADT update fills what staff left empty (first/last name, date of
birth, sex) and never overwrites staff values; `adt` shows the last ADT values as received.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from chalicelib.db import patient_index, store
from chalicelib.db import patients as repo
from chalicelib.errors import Conflict, Duplicate, Forbidden, InvalidInput, NotFound
from chalicelib.models import Page, StoredPatient
from chalicelib.services import audit, scan_compliance, sequences
from chalicelib.services import patient_search as terms
from chalicelib.services.scope import Scope
from chalicelib.services.sequences import Sequence

Sex = Literal["MALE", "FEMALE", "OTHER"]
Insurance = Literal["CASH", "SHA", "NHIF", "PRIVATE"]
_HL7_SEX = {"F": "FEMALE", "M": "MALE", "O": "OTHER", "A": "OTHER", "N": "OTHER"}


class AdtDemographics(BaseModel):
    """The last HL7 ADT values stored for the patient, as received."""

    family_name: str | None = None
    given_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    other_ids: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None  # the ADT message time (MSH-7), else when the agent received it
    envelope_id: str | None = None
    event: str | None = None


class Patient(BaseModel):
    """One patient: registered fields merged with ADT demographics (PHI: never logged)."""

    id: str
    patient_id: str  # the same id, under the name the API used before registration existed
    clinic_id: str
    op_number: str | None = None  # None until registered (ADT-only or device-only records)
    registered: bool
    first_name: str | None = None
    last_name: str | None = None
    sex: str | None = None  # MALE | FEMALE | OTHER
    date_of_birth: str | None = None
    age: int | None = None  # years, from date_of_birth, else from the age given at registration
    phone: str | None = None
    national_id: str | None = None
    insurance_type: str | None = None
    registration_type: str | None = None
    id_source: str | None = None
    first_seen_at: str | None = None
    registered_at: str | None = None
    edited_at: str | None = None
    version: int = 0
    scan_frequency: int = scan_compliance.DEFAULT_FREQUENCY  # days between remote scans (compliance)
    adt: AdtDemographics | None = None


class PatientHit(BaseModel):
    """A search result: enough to pick the right patient."""

    id: str
    clinic_id: str
    op_number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    sex: str | None = None
    date_of_birth: str | None = None
    phone: str | None = None
    national_id: str | None = None


# --- reading ---------------------------------------------------------------------------------------------


def view(stored: StoredPatient, *, today: date | None = None) -> Patient:
    today = today or datetime.now(UTC).date()
    adt = None
    if stored.updated_at is not None:
        adt = AdtDemographics(
            family_name=stored.family_name, given_name=stored.given_name, birth_date=stored.birth_date,
            sex=stored.sex, other_ids=stored.other_ids, updated_at=stored.updated_at,
            envelope_id=stored.envelope_id, event=stored.event,
        )  # fmt: skip
    dob = stored.date_of_birth or _iso_date(stored.birth_date)
    return Patient(
        id=stored.patient_id,
        patient_id=stored.patient_id,
        clinic_id=stored.clinic_id,
        op_number=stored.op_number,
        registered=stored.op_number is not None,
        first_name=stored.first_name or stored.given_name,
        last_name=stored.last_name or stored.family_name,
        sex=stored.registered_sex or _HL7_SEX.get((stored.sex or "").upper()),
        date_of_birth=dob,
        age=_age(dob, stored, today),
        phone=stored.phone,
        national_id=stored.national_id,
        insurance_type=stored.insurance_type,
        registration_type=stored.registration_type,
        id_source=stored.id_source,
        first_seen_at=stored.first_seen_at,
        registered_at=stored.registered_at,
        edited_at=stored.edited_at,
        version=stored.version,
        scan_frequency=scan_compliance.frequency_of(stored),
        adt=adt,
    )


def _iso_date(text: str | None) -> str | None:
    """An ADT birth date (`1984-02-29` or HL7 `19840229`) as ISO, None when unreadable."""
    if not text:
        return None
    compact = text.replace("-", "")[:8]
    try:
        return datetime.strptime(compact, "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def _age(dob: str | None, stored: StoredPatient, today: date) -> int | None:
    if dob:
        born = date.fromisoformat(dob)
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if stored.age is not None and stored.registered_at:
        return stored.age + (today.year - int(stored.registered_at[:4]))
    return None


def _load(scope: Scope, patient_id: str) -> StoredPatient:
    stored = repo.load(scope.clinic_id, scope.patient(patient_id))
    if stored is None:
        # The same answer whether the id is unknown or another clinic's: existence must not leak.
        raise NotFound("no patient with this id in your clinic", code="not_found")
    return stored


def get(scope: Scope, patient_id: str) -> Patient:
    patient = view(_load(scope, patient_id))
    audit.read(scope, "patient", [patient.id])
    return patient


def resolve(clinic_id: str, patient_id: str) -> str:
    """A registered patient's id when `patient_id` is its OP number; else `patient_id` unchanged."""
    if terms.looks_like_op(patient_id):
        found = repo.lookup(clinic_id, repo.op_lookup_sk(patient_id))
        if found:
            return found
    return patient_id


# --- registration ----------------------------------------------------------------------------------------


def op_number(sequence: int, at: datetime) -> str:
    """`OP-{year of registration}-{clinic sequence, 6+ digits}`: the sequence alone is unique per clinic."""
    return f"OP-{at.year:04d}-{sequence:06d}"


def register(scope: Scope, fields: dict[str, Any], *, force: bool = False, at: datetime | None = None) -> Patient:
    """Creates a patient with the clinic's next OP number. `fields` are the validated registration fields
    (first_name, last_name, sex, date_of_birth | age, phone (E.164), national_id?, insurance_type,
    registration_type?). Duplicate (409) unless `force`."""
    at = at or datetime.now(UTC)
    patient_id = uuid.uuid4().hex
    guards = _guards(scope.clinic_id, fields, force=force)
    for current in sequences.attempts(scope.clinic_id, Sequence.OP):
        number = op_number(current + 1, at)
        values = {**_registered_values(fields), "op_number": number, "registered_at": at.isoformat(),
                  "registered_by": scope.actor, "id_source": "registration", "first_seen_at": at.isoformat(),
                  "version": 1}  # fmt: skip
        try:
            with audit.change(scope, "patient.registered", resource="patient", resource_id=patient_id, at=at) as c:
                sequences.advance(c, scope.clinic_id, Sequence.OP, current)
                repo.patient_create(c, scope.clinic_id, patient_id, values)
                repo.lookup_put(c, scope.clinic_id, repo.op_lookup_sk(number), patient_id)
                for sk in guards:
                    repo.lookup_put(c, scope.clinic_id, sk, patient_id)
                for sk in sorted(_entries(patient_id, values)):
                    patient_index.put(c, scope.clinic_id, sk, patient_id)
                scan_compliance.registered(c, scope.clinic_id)
                c.emit("patient.registered", patient_id=patient_id)
        except store.ConditionFailed:
            # Either another registration took this OP number (retry with the next one) or a concurrent
            # duplicate claimed a lookup first (409). PynamoDB groups a transaction's items by operation,
            # so the reasons' positions do not say which: the lookups do.
            for sk in guards:
                if repo.lookup(scope.clinic_id, sk) not in (None, patient_id):
                    _raise_duplicate(scope.clinic_id, sk)
            continue
        except store.Contention:
            continue
        stored = repo.load(scope.clinic_id, patient_id)
        assert stored is not None
        return view(stored)
    raise AssertionError("unreachable: sequences.attempts raises when every try is lost")


def _registered_values(fields: dict[str, Any]) -> dict[str, Any]:
    dob = fields.get("date_of_birth")
    return {
        "first_name": fields["first_name"],
        "last_name": fields["last_name"],
        "registered_sex": fields["sex"],
        "date_of_birth": dob.isoformat() if isinstance(dob, date) else dob,
        "age": None if dob else fields.get("age"),
        "phone": fields["phone"],
        "national_id": fields.get("national_id") or None,
        "insurance_type": fields["insurance_type"],
        "registration_type": fields.get("registration_type") or None,
    }


def _entries(patient_id: str, values: dict[str, Any]) -> set[str]:
    return terms.entries(
        patient_id, first_name=values.get("first_name"), last_name=values.get("last_name"), phone=values.get("phone"),
        op_number=values.get("op_number"), national_id=values.get("national_id"),
    )  # fmt: skip


def _identity_keys(values: dict[str, Any]) -> list[str]:
    """The duplicate lookups a patient's values claim: national id; name + date of birth + phone."""
    found = []
    nid = terms.normalise_nid(values.get("national_id") or "")
    if nid:
        found.append(repo.nid_lookup_sk(nid))
    dob = values.get("date_of_birth")
    if dob and values.get("phone") and values.get("first_name") and values.get("last_name"):
        name = terms.identity_name(values["first_name"], values["last_name"])
        found.append(repo.identity_lookup_sk(name, str(dob), values["phone"]))
    return found


def _guards(clinic_id: str, fields: dict[str, Any], *, force: bool) -> list[str]:
    """Lookups to claim in the transaction. Without `force` an existing one is a 409 at once; with
    `force`, those already claimed by another patient are left to it (the newcomer claims the rest)."""
    wanted = _identity_keys(_registered_values(fields))
    claimed = []
    for sk in wanted:
        if repo.lookup(clinic_id, sk) is None:
            claimed.append(sk)
        elif not force:
            _raise_duplicate(clinic_id, sk)
    return claimed


def _raise_duplicate(clinic_id: str, sk: str) -> None:
    existing = repo.lookup(clinic_id, sk) or ""
    what = "national id" if sk.startswith("NID#") else "name, date of birth and phone"
    raise Duplicate(f"a patient with the same {what} is already registered (pass force to register anyway)",
                    existing_id=existing)  # fmt: skip


# --- staff edits -----------------------------------------------------------------------------------------


def update(scope: Scope, patient_id: str, changes: dict[str, Any], *, at: datetime | None = None) -> Patient:
    """A staff edit (PATCH): only the given fields change; search entries and duplicate lookups are
    replaced in the same transaction as the record, with one audit entry and a `patient.updated` event."""
    at = at or datetime.now(UTC)
    stored = _load(scope, patient_id)
    before = _staff_values(stored)
    after = dict(before)
    for name, value in changes.items():
        if name == "sex":
            after["registered_sex"] = value
        elif name == "date_of_birth":
            after["date_of_birth"], after["age"] = (value.isoformat() if value else None), None
        elif name == "age":
            after["age"], after["date_of_birth"] = value, None
        else:
            after[name] = value
    changed = {name: value for name, value in after.items() if before.get(name) != value}
    if not changed:
        return view(stored)
    plan = scan_compliance.plan(scope.clinic_id, stored.patient_id) if "scan_frequency" in changed else None
    old_entries, new_entries = _entries(stored.patient_id, before), _entries(stored.patient_id, after)
    old_guards, new_guards = set(_identity_keys(before)), set(_identity_keys(after))
    for sk in new_guards - old_guards:
        holder = repo.lookup(scope.clinic_id, sk)
        if holder is not None and holder != stored.patient_id:
            _raise_duplicate(scope.clinic_id, sk)
    try:
        with audit.change(scope, "patient.updated", resource="patient", resource_id=stored.patient_id, at=at) as c:
            repo.patient_edit(c, scope.clinic_id, stored.patient_id, {**changed, "edited_at": at.isoformat()},
                              stored.version)  # fmt: skip
            for sk in sorted(old_guards - new_guards):
                repo.lookup_delete(c, scope.clinic_id, sk, stored.patient_id)
            for sk in sorted(new_guards - old_guards):
                repo.lookup_put(c, scope.clinic_id, sk, stored.patient_id)
            for sk in sorted(old_entries - new_entries):
                patient_index.delete(c, scope.clinic_id, sk)
            for sk in sorted(new_entries - old_entries):
                patient_index.put(c, scope.clinic_id, sk, stored.patient_id)
            if "scan_frequency" in changed:
                frequency = changed["scan_frequency"] or scan_compliance.DEFAULT_FREQUENCY
                scan_compliance.frequency_changed(c, scope.clinic_id, stored.patient_id, frequency, plan)
            c.emit("patient.updated", patient_id=stored.patient_id)
    except (store.ConditionFailed, store.Contention):
        raise Conflict("the patient changed meanwhile (or a duplicate appeared); reload and retry",
                       code="edit_conflict") from None  # fmt: skip
    fresh = repo.load(scope.clinic_id, stored.patient_id)
    assert fresh is not None
    return view(fresh)


def _staff_values(stored: StoredPatient) -> dict[str, Any]:
    """The staff-owned values of a record; an unregistered record starts from its merged ADT values."""
    merged = view(stored)
    return {
        "first_name": stored.first_name or merged.first_name,
        "last_name": stored.last_name or merged.last_name,
        "registered_sex": stored.registered_sex,
        "date_of_birth": stored.date_of_birth,
        "age": stored.age,
        "phone": stored.phone,
        "national_id": stored.national_id,
        "insurance_type": stored.insurance_type,
        "registration_type": stored.registration_type,
        "op_number": stored.op_number,
        "scan_frequency": stored.scan_frequency,
    }


def follow_adt(clinic_id: str, patient_id: str, before: StoredPatient | None) -> None:
    """After ingest stored an ADT update: the patient's search entries follow the merged record, so a
    patient known only from the hospital system is found by the name it sent (a registered or edited name
    wins, as it does on reading). The entries are written again every time (idempotent), so a redelivery
    after a crash between the update and this call still indexes the patient."""
    after = repo.load(clinic_id, patient_id)
    if after is None:
        return
    old = _entries(patient_id, _staff_values(before)) if before is not None else set()
    new = _entries(patient_id, _staff_values(after))
    with store.unit() as unit:
        for sk in sorted(old - new):
            patient_index.delete(unit, clinic_id, sk)
        for sk in sorted(new):
            patient_index.put(unit, clinic_id, sk, patient_id)


# --- search ----------------------------------------------------------------------------------------------


def search(scope: Scope, query: str, *, organisation: bool, limit: int, next_token: str | None) -> Page[PatientHit]:
    """Patients matching `query` (see `patient_search.interpret`), one Query per prefix and clinic, in
    order; the cursor names the stage and carries that Query's signed token. Audited as one read per page."""
    lookup = terms.interpret(query)
    if not lookup.prefixes:
        raise InvalidInput("q must contain letters or digits", code="invalid_request", field="q")
    clinics = [scope.clinic_id]
    if organisation:
        if not scope.org_admin or not scope.org_id:
            audit.denied("patient.search", clinic_id=scope.clinic_id, actor=scope.actor,
                         role=scope.role.value if scope.role else None, origin=scope.origin,
                         reason="forbidden:scope=organisation", at=datetime.now(UTC))  # fmt: skip
            raise Forbidden("only organisation admins can search across clinics", field="scope")
        clinics = list(dict.fromkeys([scope.clinic_id, *patient_index.org_clinics(scope.org_id)]))
    stages = [(clinic, prefix) for clinic in clinics for prefix in lookup.prefixes]
    stage, inner = _parse_cursor(next_token, len(stages))
    found: list[tuple[str, str]] = []
    next_out: str | None = None
    while stage < len(stages) and len(found) < limit:
        clinic, prefix = stages[stage]
        page = patient_index.find(clinic, prefix, limit=limit - len(found), next_token=inner)
        found += [(clinic, pid) for pid in page.items]
        if page.next:
            next_out = f"{stage}~{page.next}"
            break
        stage, inner = stage + 1, None
        next_out = f"{stage}~" if stage < len(stages) else None
    hits = _hits(found)
    if hits:
        audit.read(scope, "patient", [hit.id for hit in hits])
    return Page[PatientHit](items=hits, next=next_out)


def _parse_cursor(token: str | None, stages: int) -> tuple[int, str | None]:
    if not token:
        return 0, None
    head, _, inner = token.partition("~")
    if not head.isdigit() or int(head) >= stages:
        raise InvalidInput("the 'next' token is not valid for this query", code="invalid_page_token", field="next")
    return int(head), inner or None


def _hits(found: list[tuple[str, str]]) -> list[PatientHit]:
    by_clinic: dict[str, list[str]] = {}
    for clinic, pid in found:
        by_clinic.setdefault(clinic, []).append(pid)
    loaded = {(clinic, pid): patient for clinic, ids in by_clinic.items()
              for pid, patient in repo.load_many(clinic, ids).items()}  # fmt: skip
    hits: list[PatientHit] = []
    for key in dict.fromkeys(found):  # a patient can match by "last first" and "first last"
        stored = loaded.get(key)
        if stored is None:
            continue
        merged = view(stored)
        hits.append(PatientHit(**merged.model_dump(include=set(PatientHit.model_fields))))
    return hits
