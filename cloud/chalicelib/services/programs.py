"""Programmes of seed 001's specialised services: immunizations (KEPI vaccine list, next dose due), family
planning records, maternal and child health (MCH) services; each recorded against a patient and listed back
(reads audited). See docs/journey.md."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.db import programs as repo
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.models import Page
from chalicelib.services import audit, vaccines
from chalicelib.services.encounters import require_patient
from chalicelib.services.scope import Scope

FamilyPlanningMethod = Literal[
    "COMBINED_ORAL_CONTRACEPTIVE", "PROGESTIN_ONLY_PILL", "INJECTABLE", "IMPLANT", "IUCD", "MALE_CONDOM",
    "FEMALE_CONDOM", "EMERGENCY_CONTRACEPTION", "LACTATIONAL_AMENORRHOEA", "FERTILITY_AWARENESS",
    "TUBAL_LIGATION", "VASECTOMY",
]  # fmt: skip
FamilyPlanningStatus = Literal["ACTIVE", "DISCONTINUED", "SWITCHED", "COMPLETED"]
MchServiceType = Literal["ANTENATAL", "POSTNATAL", "CHILD_WELFARE"]


class _Record(BaseModel):
    id: str
    patient_id: str
    recorded_by: str
    recorded_at: datetime


class Immunization(_Record):
    vaccine: str  # the KEPI code: BCG, OPV, PENTAVALENT, ...
    vaccine_name: str
    dose_number: int
    doses_in_schedule: int
    batch_number: str
    site: str
    route: str
    dose: str
    administered_at: date
    next_dose_due: date | None = None  # None after the schedule's last dose
    notes: str | None = None
    status: str = "COMPLETED"


class FamilyPlanningRecord(_Record):
    method: FamilyPlanningMethod
    start_date: date
    counselling_provided: bool
    counselling_notes: str | None = None
    status: FamilyPlanningStatus
    notes: str | None = None


class MchService(_Record):
    service_type: MchServiceType
    service_date: date
    details: dict[str, Any]
    findings: str | None = None
    recommendations: str | None = None
    notes: str | None = None
    status: str = "COMPLETED"


VIEWS: dict[str, type[_Record]] = {
    "immunization": Immunization,
    "family_planning": FamilyPlanningRecord,
    "mch": MchService,
}


def _view(program: str, item: repo.ProgramRecordItem) -> Any:
    identity = {"id": item.record_id, "patient_id": item.patient_id, "recorded_by": item.recorded_by,
                "recorded_at": item.recorded_at}  # fmt: skip
    return VIEWS[program].model_validate({**item.fields, **identity})


def _record(scope: Scope, program: str, patient_id: str, fields: dict[str, Any], *, type_sk: str | None = None,
            at: datetime | None = None) -> Any:  # fmt: skip
    record_id, at = uuid.uuid4().hex, at or datetime.now(UTC)
    stored = (
        VIEWS[program]
        .model_validate(
            {**fields, "id": record_id, "patient_id": patient_id, "recorded_by": scope.actor, "recorded_at": at}
        )
        .model_dump(mode="json", exclude={"id", "patient_id", "recorded_by", "recorded_at"})
    )
    item = repo.new(scope, program, patient_id, record_id, at, stored, type_sk=type_sk)
    with audit.change(scope, f"{program}.recorded", resource=program, resource_id=record_id, at=at,
                      patient_id=patient_id) as c:  # fmt: skip
        repo.add(c, item)
        c.emit(f"{program}.recorded", record_id=record_id, patient_id=patient_id)
    return _view(program, item)


def immunize(scope: Scope, patient_id: str, fields: dict[str, Any]) -> Immunization:
    """Records a dose: the vaccine must be on the KEPI list (422), the dose number defaults to the next one
    in the patient's record, and `next_dose_due` follows the schedule's interval."""
    vaccine = vaccines.find(fields["vaccine"])
    require_patient(scope, patient_id)
    given = {int(item.fields["dose_number"]) for item in repo.doses_given(scope, patient_id, vaccine.code)}
    dose_number = fields.get("dose_number") or (max(given, default=0) + 1)
    if dose_number > vaccine.doses:
        raise InvalidInput(f"{vaccine.code} has {vaccine.doses} dose(s) in the KEPI schedule",
                           code="schedule_complete" if not fields.get("dose_number") else "invalid_dose_number",
                           field="dose_number")  # fmt: skip
    if dose_number in given:
        raise Conflict(f"dose {dose_number} of {vaccine.code} is already recorded for this patient",
                       code="dose_already_recorded", field="dose_number")  # fmt: skip
    today = datetime.now(UTC).date()
    administered: date = fields.get("administered_at") or today
    if administered > today:
        raise InvalidInput("administered_at cannot be in the future", code="invalid_request", field="administered_at")
    values = {**fields, "vaccine": vaccine.code, "vaccine_name": vaccine.name, "dose_number": dose_number,
              "doses_in_schedule": vaccine.doses, "administered_at": administered,
              "next_dose_due": vaccine.next_due(dose_number, administered)}  # fmt: skip
    type_sk = f"{repo.dose_prefix(vaccine.code)}{dose_number:02d}"
    result: Immunization = _record(scope, "immunization", patient_id, values, type_sk=type_sk)
    return result


def family_planning(scope: Scope, patient_id: str, fields: dict[str, Any]) -> FamilyPlanningRecord:
    require_patient(scope, patient_id)
    values = {
        **fields,
        "counselling_provided": bool(fields.get("counselling_provided") or fields.get("counselling_notes")),
    }
    result: FamilyPlanningRecord = _record(scope, "family_planning", patient_id, values)
    return result


def mch_service(scope: Scope, patient_id: str, fields: dict[str, Any]) -> MchService:
    require_patient(scope, patient_id)
    values = {**fields, "service_date": fields.get("service_date") or datetime.now(UTC).date()}
    result: MchService = _record(scope, "mch", patient_id, values)
    return result


def records(scope: Scope, program: str, patient_id: str, *, limit: int, next_token: str | None) -> Page[Any]:
    require_patient(scope, patient_id)
    found = repo.page(scope, program, patient_id, limit=limit, next_token=next_token)
    audit.read(scope, "patient", [patient_id])
    return Page[Any](items=[_view(program, row) for row in found.items], next=found.next)
