"""The outpatient journey's history of a bench patient, as the exact items the services write (bench/api_scaling.py).

Each builder hands the domain repository's own item builder (`db/visits.create`, `db/charges.add`,
`db/encounters.add` ...) a `Collector` in place of the transaction, so a seeded item is built by the same code
as a served one, then set to the state the later changes (status moves, dispensing, results) leave it in. The
bench BatchWriteItems them and checks, per item kind, that a seeded item and a service-written one carry the
same attribute names (`same_attributes`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.db import allergies as allergies_repo
from chalicelib.db import appointments as appointments_repo
from chalicelib.db import audit as audit_repo
from chalicelib.db import charges as charges_repo
from chalicelib.db import diagnoses as diagnoses_repo
from chalicelib.db import encounters as encounters_repo
from chalicelib.db import events as events_repo
from chalicelib.db import keys, store
from chalicelib.db import lab as lab_repo
from chalicelib.db import payments as payments_repo
from chalicelib.db import prescriptions as prescriptions_repo
from chalicelib.db import visits as visits_repo
from chalicelib.models import DomainEvent
from chalicelib.services import appointments, audit, icd10, prescriptions
from chalicelib.services.scope import Scope

# The bench clinic's price list (PUT /prices at set-up), in minor units.
PRICES = {("CONSULTATION", "CONSULTATION"): 50_000, ("LAB_TEST", "DEFAULT"): 30_000, ("MEDICATION", "DEFAULT"): 5_000}
MEDICATION = "Amoxicillin 500 mg"
TESTS = [{"code": "HB", "name": "Haemoglobin"}, {"code": "MPS", "name": "Malaria parasites"}]
DIAGNOSIS_CODE = "B54"  # unspecified malaria (its name and billable flag come from the code list, as served)
SLOTS = [f"{8 + n // 2:02d}:{(n % 2) * 30:02d}" for n in range(20)]  # 08:00-17:30, 30-minute appointments


Audited = list[tuple[str, str, str, dict[str, str]]]  # (action, resource, resource id, target) of audit entries
Emitted = list[tuple[str, dict[str, str]]]  # (type, subject) of outbox events


class Collector:
    """Stands in for a transaction: keeps what a repository saves (the builders used here only save)."""

    def __init__(self) -> None:
        self.items: list[store.Item] = []

    def save(self, item: store.Item, condition: Any = None) -> None:
        self.items.append(item)


@dataclass
class Seeded:
    """Counters the history carries across sizes."""

    specimens: int = 0  # the lab's specimen sequence (after the probes' service-written requests)
    appointments: int = 0
    visits: int = 0
    clinical: int = 0  # visits with an encounter, a diagnosis, a prescription and a lab request


def _changes(scope: Scope, at: datetime, audited: Audited,
             emitted: Emitted) -> Iterator[store.Item]:  # fmt: skip
    for action, resource, resource_id, target in audited:
        yield audit_repo.to_item(audit.entry(scope, action, at=at, resource=resource, resource_id=resource_id,
                                             **target))  # fmt: skip
    for event_type, subject in emitted:
        yield events_repo.to_item(DomainEvent(id=events_repo.new_id(at), clinic_id=scope.clinic_id, type=event_type,
                                              subject=subject, actor=scope.actor, at=at))  # fmt: skip


def _charge(visit_id: str, kind: str, code: str, description: str, quantity: int, at: datetime,
            by: str) -> charges_repo.StoredCharge:  # fmt: skip
    unit = PRICES.get((kind, code), PRICES.get((kind, "DEFAULT")))
    return charges_repo.StoredCharge(
        charge_id=uuid.uuid4().hex, visit_id=visit_id, kind=kind, code=code, description=description,
        quantity=quantity, unit_minor=unit or 0, amount_minor=(unit or 0) * quantity, priced=unit is not None,
        at=at, by=by,
    )  # fmt: skip


def past_visit(seeded: Seeded, scope: Scope, patient_id: str, at: datetime, day: str, *,
               clinical: bool) -> list[store.Item]:  # fmt: skip
    """A COMPLETED visit opened at `at` with its consultation charge and a payment of the whole bill; when
    `clinical`, a CONSULTATION encounter, a diagnosis, a DISPENSED prescription (MEDICATION charge) and a
    COMPLETED lab request of two tests (LAB_TEST charges) under it."""
    unit = Collector()
    visit_id, actor = uuid.uuid4().hex, scope.actor
    bill = [_charge(visit_id, "CONSULTATION", "CONSULTATION", "Consultation", 1, at, actor)]
    audited: Audited = [("visit.opened", "visit", visit_id, {"patient_id": patient_id})]
    emitted: Emitted = [("visit.opened", {"visit_id": visit_id, "patient_id": patient_id})]
    if clinical:
        seeded.clinical += 1
        bill += _clinical(seeded, unit, scope, patient_id, visit_id, at, audited, emitted)
    done = at + timedelta(minutes=45)
    total = sum(charge.amount_minor for charge in bill)
    stored = visits_repo.StoredVisit(
        clinic_id=scope.clinic_id, visit_id=visit_id, patient_id=patient_id, status="COMPLETED",
        chief_complaint="Fever and headache", triage_category="NORMAL", payment_type="CASH", payment_reference=None,
        day=day, opened_at=at, opened_by=actor, updated_at=done, updated_by=actor, version=4, charges_minor=total,
        paid_minor=total, discharge_notes="Reviewed; home care", completed_at=done, follow_up_appointment_id=None,
    )  # fmt: skip
    visits_repo.create(unit, stored)
    visit_item = next(item for item in unit.items if isinstance(item, visits_repo.VisitItem))
    # create() writes an opening visit; the discharge (PUT /visits/{id} COMPLETED) sets these and frees the guard.
    visit_item.discharge_notes, visit_item.completed_at = stored.discharge_notes, stored.completed_at
    unit.items = [item for item in unit.items if not isinstance(item, visits_repo.OpenVisitItem)]
    for charge in bill:
        charges_repo.add(unit, scope.clinic_id, patient_id, charge)
    payment = payments_repo.StoredPayment(
        payment_id=uuid.uuid4().hex, visit_id=visit_id, amount_minor=total, payment_type="CASH", reference=None,
        reason=None, at=done, by=actor,
    )  # fmt: skip
    payments_repo.add(unit, scope.clinic_id, patient_id, payment)
    audited += [("payment.taken", "payment", payment.payment_id, {"visit_id": visit_id}),
                ("visit.status_changed", "visit", visit_id, {"status": "COMPLETED"})]  # fmt: skip
    emitted += [("payment.completed", {"visit_id": visit_id, "payment_id": payment.payment_id, "amount": str(total)}),
                ("visit.status_changed", {"visit_id": visit_id, "status": "COMPLETED"}),
                ("visit.discharged", {"visit_id": visit_id, "patient_id": patient_id})]  # fmt: skip
    seeded.visits += 1
    return [*unit.items, *_changes(scope, done, audited, emitted)]


def _clinical(seeded: Seeded, unit: Collector, scope: Scope, patient_id: str, visit_id: str, at: datetime,
              audited: Audited,
              emitted: Emitted) -> list[charges_repo.StoredCharge]:  # fmt: skip
    seen = at + timedelta(minutes=10)
    encounter_id, diagnosis_id, prescription_id, request_id = (uuid.uuid4().hex for _ in range(4))
    encounter = encounters_repo.new(
        scope, patient_id, encounter_id, seen, visit_id=visit_id, encounter_type="CONSULTATION", vital_signs=None,
        notes="History of fever for three days", findings="Febrile, no neck stiffness",
        recommendations="Malaria test; antipyretics",
    )  # fmt: skip
    encounters_repo.add(unit, scope, encounter)
    code = icd10.lookup(DIAGNOSIS_CODE)
    diagnosis = diagnoses_repo.new(
        scope, patient_id, diagnosis_id, seen, encounter_id=encounter_id, visit_id=visit_id, diagnosis_code=code.code,
        diagnosis_name=code.name, billable=code.billable, status="ACTIVE", notes=None,
    )  # fmt: skip
    diagnoses_repo.add(unit, diagnosis)
    dispensed = seen + timedelta(minutes=20)
    prescription = prescriptions_repo.new(
        scope, patient_id, prescription_id, seen, encounter_id=encounter_id, visit_id=visit_id, status="DISPENSED",
        allergy_override_reason=None, overridden_allergies=None, medication_name=MEDICATION, dosage="500 mg",
        frequency="three times a day", duration="5 days", route="oral", instructions="After meals", quantity=15,
    )  # fmt: skip
    # The dispensing (PUT /prescriptions/{id} DISPENSED): its fields, version 2.
    prescription.quantity_dispensed, prescription.dispensed_by, prescription.dispensed_at = 15, scope.actor, dispensed
    prescription.version = 2
    prescriptions_repo.add(unit, scope, prescription)
    seeded.specimens += 1
    requested = keys.sortable_time(seen)
    resulted = (seen + timedelta(minutes=30)).isoformat()
    results = [{"code": test["code"], "value": "12.5" if test["code"] == "HB" else "negative", "flags": [],
                "critical": False, "source": "manual", "entered_by": scope.actor, "entered_at": resulted}
               for test in TESTS]  # fmt: skip
    values: dict[str, Any] = {
        "visit_id": visit_id, "specimen_id": f"L{seeded.specimens:07d}", "status": "COMPLETED", "urgency": "NORMAL",
        "tests": TESTS, "notes": None, "results": results, "requested_at": seen.isoformat(),
        "requested_by": scope.actor,
    }  # fmt: skip
    request = lab_repo.new_item(scope.clinic_id, patient_id, request_id, requested, values)
    # The results' entry (PUT /lab-requests/{id} COMPLETED): its fields, version 2.
    request.updated_at, request.completed_at, request.completed_by, request.version = resulted, resulted, scope.actor, 2
    lab_repo.create(unit, request)
    audited += [
        ("encounter.recorded", "encounter", encounter_id, {"patient_id": patient_id, "visit_id": visit_id,
                                                            "encounter_type": "CONSULTATION"}),
        ("diagnosis.added", "diagnosis", diagnosis_id, {"patient_id": patient_id, "encounter_id": encounter_id}),
        ("prescription.prescribed", "prescription", prescription_id, {"patient_id": patient_id,
                                                                       "encounter_id": encounter_id}),
        ("prescription.dispensed", "prescription", prescription_id, {"patient_id": patient_id, "status": "DISPENSED"}),
        ("lab_request.created", "lab_request", request_id, {"patient_id": patient_id}),
        ("lab_request.results_entered", "lab_request", request_id, {"patient_id": patient_id, "status": "COMPLETED"}),
    ]  # fmt: skip
    emitted += [
        ("encounter.recorded", {"encounter_id": encounter_id, "patient_id": patient_id, "visit_id": visit_id,
                                "encounter_type": "CONSULTATION"}),
        ("prescription.dispensed", {"prescription_id": prescription_id, "patient_id": patient_id,
                                    "visit_id": visit_id, "status": "DISPENSED"}),
        ("lab.results_ready", {"lab_request_id": request_id, "patient_id": patient_id,
                               "specimen_id": values["specimen_id"], "status": "COMPLETED"}),
    ]  # fmt: skip
    code = prescriptions.medication_code(MEDICATION)
    return [
        _charge(visit_id, "MEDICATION", code, MEDICATION, 15, dispensed, scope.actor),
        *(_charge(visit_id, "LAB_TEST", test["code"], test["name"], 1, seen, scope.actor) for test in TESTS),
    ]


def allergy(seeded: Seeded, scope: Scope, patient_id: str, at: datetime) -> list[store.Item]:
    unit = Collector()
    allergy_id = uuid.uuid4().hex
    allergies_repo.add(unit, allergies_repo.new(scope, patient_id, allergy_id, at, substance="Sulfonamides",
                                                reaction="Rash", severity="MODERATE", notes=None))  # fmt: skip
    audited: Audited = [("allergy.recorded", "allergy", allergy_id, {"patient_id": patient_id})]
    emitted: Emitted = [("allergy.recorded", {"allergy_id": allergy_id, "patient_id": patient_id})]
    return [*unit.items, *_changes(scope, at, audited, emitted)]


def appointment(seeded: Seeded, scope: Scope, patient_id: str, providers: list[str], first_day: date,
                at: datetime) -> list[store.Item]:  # fmt: skip
    """The clinic's next appointment: spread over 30 days from `first_day`, then the providers, then the day's
    half-hour slots (20 a day: 30 x providers x 20 appointments fit before a slot would repeat)."""
    n = seeded.appointments
    seeded.appointments += 1
    day = first_day + timedelta(days=n % 30)
    provider = providers[(n // 30) % len(providers)]
    slot = SLOTS[(n // (30 * len(providers))) % len(SLOTS)]
    stored = appointments_repo.StoredAppointment(
        appointment_id=uuid.uuid4().hex, patient_id=patient_id, provider_id=provider, date=day.isoformat(), time=slot,
        duration_minutes=appointments.DEFAULT_DURATION, reason="Review", status="SCHEDULED", visit_id=None, version=1,
        created_at=at, created_by=scope.actor, updated_at=at,
    )  # fmt: skip
    unit = Collector()
    appointments_repo.save(unit, scope.clinic_id, stored, expected_version=None)
    for sk in sorted(appointments.blocks(provider, stored.date, slot, stored.duration_minutes)):
        appointments_repo.claim_slot(unit, scope.clinic_id, sk, stored.appointment_id)
    return [*unit.items, *_changes(scope, at, [("appointment.booked", "appointment", stored.appointment_id, {})],
                                   [("appointment.booked", {"appointment_id": stored.appointment_id})])]  # fmt: skip


def stored_kinds(client: Any, clinic_id: str, patient_id: str, appointment_id: str) -> dict[str, set[str]]:
    """The attribute names of a patient's journey items as stored (read back raw), per kind: its partition's
    records (by sort-key shape and status), their directory pointers, and one appointment with its slots."""
    clinical, directory = visits_repo.VisitItem.Meta.table_name, visits_repo.VisitPointerItem.Meta.table_name
    partition = {":pk": {"S": keys.patient_pk(clinic_id, patient_id)}}
    found = client.query(TableName=clinical, KeyConditionExpression="pk = :pk",
                         ExpressionAttributeValues=partition)["Items"]  # fmt: skip
    kinds: dict[str, set[str]] = {}
    pointers: list[tuple[str, str]] = []
    for item in found:
        sk, status = item["sk"]["S"], item.get("status", {}).get("S", "")
        head = sk.split("#")[0]
        state = status or item.get("encounter_type", {}).get("S", "")
        kind = "VISIT CHARGE" if "#CHARGE#" in sk else "VISIT PAYMENT" if "#PAYMENT#" in sk else f"{head} {state}"
        kinds.setdefault(kind.strip(), set(item))
        for attribute, sk_of in (("visit_id", visits_repo.visit_sk), ("encounter_id", _ref("ENCOUNTER#")),
                                 ("prescription_id", _ref("PRESCRIPTION#")), ("request_id", lab_repo.id_pointer_sk),
                                 ("specimen_id", lab_repo.specimen_pointer_sk)):  # fmt: skip
            if attribute in item and head in ("VISIT", "ENCOUNTER", "PRESCRIPTION", "LAB"):
                pointers.append((f"pointer {attribute}", sk_of(item[attribute]["S"])))
    for kind, sk in pointers:
        row = _get(client, directory, keys.clinic_pk(clinic_id), sk)
        if row:
            kinds.setdefault(kind, set(row))
    booked = _get(client, directory, keys.clinic_pk(clinic_id), appointments_repo.appointment_sk(appointment_id))
    kinds["APPT"] = set(booked)
    slot = booked and appointments.blocks(booked["provider_id"]["S"], booked["date"]["S"], booked["time"]["S"], 30)
    kinds["SLOT"] = set(_get(client, directory, keys.clinic_pk(clinic_id), sorted(slot)[0])) if slot else set()
    return kinds


def _ref(prefix: str) -> Any:
    return lambda value: f"{prefix}{keys.segment(value)}"


def _get(client: Any, table: str, pk: str, sk: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item", {})
    return found


def differences(seeded: dict[str, set[str]], served: dict[str, set[str]]) -> list[str]:
    """Per kind both wrote, where the attribute names differ."""
    return [f"{kind}: seeded only {sorted(seeded[kind] - served[kind])}, "
            f"served only {sorted(served[kind] - seeded[kind])}"
            for kind in sorted(seeded.keys() & served.keys()) if seeded[kind] != served[kind]]  # fmt: skip


def open_visit(scope: Scope, patient_id: str, at: datetime, day: str, *, triaged: bool) -> list[store.Item]:
    """An open visit of today's queue as POST /visits writes it (the visit, its pointer, the patient's open-visit
    guard, the consultation charge), moved to TRIAGED (PUT /visits/{id}) when `triaged`."""
    unit = Collector()
    visit_id, actor = uuid.uuid4().hex, scope.actor
    charge = _charge(visit_id, "CONSULTATION", "CONSULTATION", "Consultation", 1, at, actor)
    moved = at + timedelta(minutes=5) if triaged else at
    stored = visits_repo.StoredVisit(
        clinic_id=scope.clinic_id, visit_id=visit_id, patient_id=patient_id,
        status="TRIAGED" if triaged else "REGISTERED", chief_complaint="Cough", triage_category="NORMAL",
        payment_type="CASH", payment_reference=None, day=day,
        opened_at=at, opened_by=actor, updated_at=moved, updated_by=actor, version=2 if triaged else 1,
        charges_minor=charge.amount_minor, paid_minor=0, discharge_notes=None, completed_at=None,
        follow_up_appointment_id=None,
    )  # fmt: skip
    visits_repo.create(unit, stored)
    charges_repo.add(unit, scope.clinic_id, patient_id, charge)
    audited: Audited = [("visit.opened", "visit", visit_id, {"patient_id": patient_id})]
    emitted: Emitted = [("visit.opened", {"visit_id": visit_id, "patient_id": patient_id}),
                        ("visit.status_changed", {"visit_id": visit_id, "status": "REGISTERED"})]  # fmt: skip
    if triaged:
        audited.append(("visit.status_changed", "visit", visit_id, {"status": "TRIAGED"}))
        emitted.append(("visit.status_changed", {"visit_id": visit_id, "status": "TRIAGED"}))
    return [*unit.items, *_changes(scope, moved, audited, emitted)]
