"""Patients: register (POST /patients), read, edit (PATCH), search (GET /patients?q=) — caller's clinic only,
or every clinic of the organisation for organisation admins searching with `scope=organisation`.
See docs/patients.md."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from chalice import Blueprint
from pydantic import ConfigDict, Field, StrictInt, field_validator, model_validator

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.models import Page
from chalicelib.services import patient_search, patients
from chalicelib.services.patients import Insurance, Patient, PatientHit, Sex
from chalicelib.services.roles import Permission
from chalicelib.services.scan_compliance import MAX_FREQUENCY, MIN_FREQUENCY

bp = Blueprint(__name__)

Name = Field(min_length=1, max_length=100)


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    normalised = patient_search.normalise_phone(value)
    if normalised is None:
        raise ValueError("phone must be a valid international number in E.164 form, e.g. +254712345678")
    return normalised


def _birth(value: date | None) -> date | None:
    if value is not None and not date(1900, 1, 1) <= value <= datetime.now(UTC).date():
        raise ValueError("date_of_birth must be between 1900-01-01 and today")
    return value


class NewPatient(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"first_name": "Amani", "last_name": "Okello", "sex": "FEMALE", "age": 34,
                 "phone": "+254712345678", "insurance_type": "CASH"}
            ]
        }
    )  # fmt: skip
    first_name: str = Name
    last_name: str = Name
    sex: Sex
    date_of_birth: date | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    phone: str = Field(min_length=4, max_length=32, examples=["+254712345678"])
    national_id: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9\- /]+$")
    insurance_type: Insurance
    registration_type: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Z_]+$")
    force: bool = False

    _check_phone = field_validator("phone")(_phone)
    _check_birth = field_validator("date_of_birth")(_birth)

    @model_validator(mode="after")
    def _dob_or_age(self) -> NewPatient:
        if (self.date_of_birth is None) == (self.age is None):
            raise ValueError("give exactly one of date_of_birth or age")
        return self


class PatientChanges(RequestModel):
    first_name: str | None = Field(default=None, min_length=1, max_length=100)
    last_name: str | None = Field(default=None, min_length=1, max_length=100)
    sex: Sex | None = None
    date_of_birth: date | None = None
    age: int | None = Field(default=None, ge=0, le=130)
    phone: str | None = Field(default=None, min_length=4, max_length=32)
    national_id: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Za-z0-9\- /]+$")
    insurance_type: Insurance | None = None
    registration_type: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[A-Z_]+$")
    # Days between remote scans (dashboard compliance); null goes back to the default (14).
    scan_frequency: StrictInt | None = Field(default=None, ge=MIN_FREQUENCY, le=MAX_FREQUENCY, examples=[7])

    _check_phone = field_validator("phone")(_phone)
    _check_birth = field_validator("date_of_birth")(_birth)

    @model_validator(mode="after")
    def _consistent(self) -> PatientChanges:
        given = self.model_fields_set
        if "date_of_birth" in given and "age" in given:
            raise ValueError("give at most one of date_of_birth or age")
        required = {"first_name", "last_name", "sex", "phone", "insurance_type"}
        cleared = sorted(name for name in given & required if getattr(self, name) is None)
        if cleared:
            raise ValueError(f"{cleared[0]} cannot be removed")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class SearchQuery(PageQuery):
    q: str = Field(min_length=1, max_length=100)
    scope: Literal["clinic", "organisation"] = "clinic"
    all_clinics: bool = False


@endpoint(bp, "POST", "/patients", permission=Permission.PATIENTS_REGISTER, body=NewPatient, response=Patient,
          status=201)  # fmt: skip
def register(call: Call) -> Patient:
    """Register a patient; the clinic issues its OP number (409 duplicate_patient unless force)."""
    body: NewPatient = call.body
    return patients.register(call.scope, body.model_dump(exclude={"force"}), force=body.force)


@endpoint(bp, "GET", "/patients", permission=Permission.PATIENTS_READ, query=SearchQuery,
          response=Page[PatientHit])  # fmt: skip
def search(call: Call) -> Page[PatientHit]:
    """Find patients by name prefix, phone, OP number or national id."""
    query: SearchQuery = call.query
    organisation = query.scope == "organisation" or query.all_clinics
    return patients.search(call.scope, query.q, organisation=organisation, limit=query.limit, next_token=query.next)


@endpoint(bp, "GET", "/patients/{patient_id}", permission=Permission.PATIENTS_READ, response=Patient)
def patient(call: Call, patient_id: str) -> Patient:
    """A patient's record: registered fields merged with HL7 ADT demographics."""
    return patients.get(call.scope, params.patient_id(patient_id))


@endpoint(bp, "PATCH", "/patients/{patient_id}", permission=Permission.PATIENTS_UPDATE, body=PatientChanges,
          response=Patient)  # fmt: skip
def edit(call: Call, patient_id: str) -> Patient:
    """Edit a patient's registered fields (only those given change)."""
    body: PatientChanges = call.body
    return patients.update(call.scope, params.patient_id(patient_id), body.changes())
