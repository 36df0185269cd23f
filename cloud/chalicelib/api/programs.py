"""Specialised services (seed 001 §6): immunizations (POST, GET /immunization/patients/{patient_id}/immunizations,
GET /immunization/vaccines), family planning (/family-planning/patients/{patient_id}/records) and MCH services
(/mch-services/patients/{patient_id}/services); caller's clinic only. See docs/journey.md."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import programs, vaccines
from chalicelib.services.programs import (
    FamilyPlanningMethod,
    FamilyPlanningRecord,
    FamilyPlanningStatus,
    Immunization,
    MchService,
    MchServiceType,
)
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

Short = Field(min_length=1, max_length=100)
Text = Field(default=None, min_length=1, max_length=4000)
DetailValue = Annotated[StrictStr, Field(max_length=500)] | StrictInt | StrictFloat | StrictBool


class NewImmunization(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"vaccine": "Pentavalent", "dose_number": 1, "batch_number": "BATCH001",
                                         "site": "Left thigh", "route": "IM", "dose": "0.5ml"}]}
    )  # fmt: skip
    vaccine: str = Short
    dose_number: int | None = Field(default=None, ge=1, le=10)
    batch_number: str = Short
    site: str = Short
    route: str = Field(min_length=1, max_length=20, examples=["IM", "ORAL", "ID", "SC"])
    dose: str = Field(min_length=1, max_length=20, examples=["0.5ml", "2 drops"])
    administered_at: date | None = None
    notes: str | None = Text


class NewFamilyPlanningRecord(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"method": "COMBINED_ORAL_CONTRACEPTIVE", "start_date": "2026-12-05",
                                         "counselling_notes": "Counselled on all methods", "status": "ACTIVE"}]}
    )  # fmt: skip
    method: FamilyPlanningMethod
    start_date: date
    counselling_provided: bool | None = None
    counselling_notes: str | None = Text
    status: FamilyPlanningStatus
    notes: str | None = Text


class NewMchService(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"service_type": "ANTENATAL", "details": {"weight": 65.5,
                                         "blood_pressure": "120/80"}, "findings": "Normal weight gain"}]}
    )  # fmt: skip
    service_type: MchServiceType
    details: dict[Annotated[str, Field(min_length=1, max_length=64)], DetailValue] = Field(max_length=50)
    findings: str | None = Text
    recommendations: str | None = Text
    service_date: date | None = None
    notes: str | None = Text


class VaccineInfo(BaseModel):
    code: str
    name: str
    doses: int
    intervals_days: list[int]


class VaccineList(BaseModel):
    items: list[VaccineInfo]


@endpoint(bp, "GET", "/immunization/vaccines", permission=Permission.PROGRAMS_READ, response=VaccineList)
def vaccine_list(call: Call) -> VaccineList:
    """The KEPI vaccines and their dose intervals (what `vaccine` accepts)."""
    return VaccineList(items=[VaccineInfo(code=v.code, name=v.name, doses=v.doses, intervals_days=list(v.intervals))
                              for v in vaccines.KEPI])  # fmt: skip


@endpoint(bp, "POST", "/immunization/patients/{patient_id}/immunizations", permission=Permission.PROGRAMS_WRITE,
          body=NewImmunization, response=Immunization, status=201)  # fmt: skip
def immunize(call: Call, patient_id: str) -> Immunization:
    """Record a vaccine dose (KEPI list; next dose due computed)."""
    body: NewImmunization = call.body
    return programs.immunize(call.scope, params.patient_id(patient_id), body.model_dump())


@endpoint(bp, "GET", "/immunization/patients/{patient_id}/immunizations", permission=Permission.PROGRAMS_READ,
          query=PageQuery, response=Page[Immunization])  # fmt: skip
def immunizations(call: Call, patient_id: str) -> Page[Immunization]:
    """A patient's immunizations, newest first."""
    query: PageQuery = call.query
    return programs.records(call.scope, "immunization", params.patient_id(patient_id), limit=query.limit,
                            next_token=query.next)  # fmt: skip


@endpoint(bp, "POST", "/family-planning/patients/{patient_id}/records", permission=Permission.PROGRAMS_WRITE,
          body=NewFamilyPlanningRecord, response=FamilyPlanningRecord, status=201)  # fmt: skip
def add_family_planning(call: Call, patient_id: str) -> FamilyPlanningRecord:
    """Record a family-planning method and its counselling."""
    body: NewFamilyPlanningRecord = call.body
    return programs.family_planning(call.scope, params.patient_id(patient_id), body.model_dump())


@endpoint(bp, "GET", "/family-planning/patients/{patient_id}/records", permission=Permission.PROGRAMS_READ,
          query=PageQuery, response=Page[FamilyPlanningRecord])  # fmt: skip
def family_planning_records(call: Call, patient_id: str) -> Page[FamilyPlanningRecord]:
    """A patient's family-planning records, newest first."""
    query: PageQuery = call.query
    return programs.records(call.scope, "family_planning", params.patient_id(patient_id), limit=query.limit,
                            next_token=query.next)  # fmt: skip


@endpoint(bp, "POST", "/mch-services/patients/{patient_id}/services", permission=Permission.PROGRAMS_WRITE,
          body=NewMchService, response=MchService, status=201)  # fmt: skip
def add_mch_service(call: Call, patient_id: str) -> MchService:
    """Record an antenatal, postnatal or child-welfare service."""
    body: NewMchService = call.body
    return programs.mch_service(call.scope, params.patient_id(patient_id), body.model_dump())


@endpoint(bp, "GET", "/mch-services/patients/{patient_id}/services", permission=Permission.PROGRAMS_READ,
          query=PageQuery, response=Page[MchService])  # fmt: skip
def mch_services(call: Call, patient_id: str) -> Page[MchService]:
    """A patient's MCH services, newest first."""
    query: PageQuery = call.query
    return programs.records(call.scope, "mch", params.patient_id(patient_id), limit=query.limit,
                            next_token=query.next)  # fmt: skip
