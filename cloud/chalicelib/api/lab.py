"""Lab requests: order (POST /lab-requests), the lab's worklist, a patient's requests, manual results (PUT) and
the HL7 order for the analyzer. Analyzer results attach themselves at ingest (services/lab.py)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.errors import InvalidInput
from chalicelib.models import Page
from chalicelib.services import lab
from chalicelib.services.lab import LabRequest, LabTest, Status, Urgency
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

# Test codes travel in HL7 and ASTM fields: letters, digits and . _ - only (never ^ | ~ \ &).
TestCode = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
Id = Field(min_length=1, max_length=params.MAX_PATIENT_ID)


class TestOrder(RequestModel):
    code: str = TestCode
    name: str = Field(min_length=1, max_length=100)


class NewLabRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"patient_id": "3f9c...", "visit_id": "7a21...", "urgency": "NORMAL",
                 "tests": [{"code": "HGB", "name": "Haemoglobin"}, {"code": "WBC", "name": "White blood cells"}]}
            ]
        }
    )  # fmt: skip
    patient_id: str = Id
    visit_id: str = Id
    tests: list[TestOrder] = Field(min_length=1, max_length=50)
    urgency: Urgency = "NORMAL"
    notes: str | None = Field(default=None, max_length=2000)


class ResultEntry(RequestModel):
    code: str = TestCode
    value: str = Field(min_length=1, max_length=200)
    unit: str | None = Field(default=None, min_length=1, max_length=32)
    reference_range: str | None = Field(default=None, min_length=1, max_length=64)
    flag: str | None = Field(default=None, pattern=r"^[A-Za-z<>]{1,4}$")  # HL7 table 0078: L H LL HH A AA N ...


class LabResults(RequestModel):
    results: list[ResultEntry] = Field(default_factory=list, max_length=100)
    status: Literal["COMPLETED", "CANCELLED"] | None = None


class WorklistQuery(PageQuery):
    status: Status = "PENDING"


class LabOrderMessage(BaseModel):
    lab_request_id: str
    specimen_id: str
    message_type: str
    message: str  # HL7 v2 ER7 text, segments separated by CR


def _request_id(raw: str) -> str:
    """The `{lab_request_id}` of a path: URL-decoded, stripped, 1-128 printable characters (422 otherwise)."""
    value = unquote(raw).strip()
    if not value or len(value) > params.MAX_PATIENT_ID or not value.isprintable():
        raise InvalidInput("lab_request_id must be 1-128 printable characters", code="invalid_lab_request_id")
    return value


@endpoint(bp, "POST", "/lab-requests", permission=Permission.LAB_ORDER, body=NewLabRequest, response=LabRequest,
          status=201)  # fmt: skip
def create(call: Call) -> LabRequest:
    """Order lab tests for a patient's visit; the request gets the clinic's next specimen id."""
    body: NewLabRequest = call.body
    tests = [LabTest(code=test.code, name=test.name) for test in body.tests]
    return lab.create(call.scope, body.patient_id, body.visit_id, tests, body.urgency, body.notes)


@endpoint(bp, "GET", "/lab-requests", permission=Permission.LAB_READ, query=WorklistQuery,
          response=Page[LabRequest])  # fmt: skip
def worklist(call: Call) -> Page[LabRequest]:
    """The lab's worklist: the clinic's requests of one status (PENDING by default), oldest first."""
    query: WorklistQuery = call.query
    return lab.worklist(call.scope, query.status, limit=query.limit, next_token=query.next)


@endpoint(bp, "GET", "/lab-requests/{lab_request_id}", permission=Permission.LAB_READ, response=LabRequest)
def get(call: Call, lab_request_id: str) -> LabRequest:
    """A lab request with its results."""
    return lab.get(call.scope, _request_id(lab_request_id))


@endpoint(bp, "PUT", "/lab-requests/{lab_request_id}", permission=Permission.LAB_RESULTS, body=LabResults,
          response=LabRequest)  # fmt: skip
def enter_results(call: Call, lab_request_id: str) -> LabRequest:
    """Enter results by hand (ordered tests only): PARTIAL until every test has one, then COMPLETED."""
    body: LabResults = call.body
    entries = [entry.model_dump() for entry in body.results]
    return lab.enter_results(call.scope, _request_id(lab_request_id), entries, body.status)


@endpoint(bp, "GET", "/lab-requests/{lab_request_id}/order", permission=Permission.LAB_READ,
          response=LabOrderMessage)  # fmt: skip
def order(call: Call, lab_request_id: str) -> LabOrderMessage:
    """The request as an HL7 v2.5.1 OML^O21 order for the analyzer (specimen id as placer and filler number)."""
    message = lab.order_message(call.scope, _request_id(lab_request_id))
    return LabOrderMessage(**message)


@endpoint(bp, "GET", "/patients/{patient_id}/lab-requests", permission=Permission.LAB_READ, query=PageQuery,
          response=Page[LabRequest])  # fmt: skip
def of_patient(call: Call, patient_id: str) -> Page[LabRequest]:
    """A patient's lab requests, newest first."""
    query: PageQuery = call.query
    return lab.of_patient(call.scope, params.patient_id(patient_id), limit=query.limit, next_token=query.next)
