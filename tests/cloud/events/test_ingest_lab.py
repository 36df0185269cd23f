"""Analyzer results link themselves: ingest attaches HL7 ORU / ASTM results to the lab request whose specimen id
they carry (OBR-3, OBR-2, SPM-2, ASTM O-3), for the same patient (id or OP number), once per envelope.

Envelopes are built by the agent's own code (`edge_agent.intake.describe` over the registry's adapters) from
message text, so what the cloud receives is exactly what the agent would upload."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest

from chalicelib.db import events as events_repo
from chalicelib.db import readings as readings_repo
from chalicelib.events.ingest import lambda_handler
from chalicelib.models import DomainEvent
from chalicelib.resources import ResourceNames
from chalicelib.services import lab, patients, visits
from chalicelib.services.ingest import Outcome, ingest_object
from chalicelib.services.lab import LabRequest, LabTest
from chalicelib.services.scope import Scope
from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.identity import Identity
from edge_agent.intake.describe import Context, describe
from localdev.router import FakeLambdaContext
from shared_models import Envelope, SourceInfo
from shared_models.s3keys import envelope_key
from tests.cloud.builders import put_envelope, s3_notification, sqs_event

CLINIC = "clinic-lab-ingest"
RECEIVED = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
SCOPE = Scope.system(CLINIC, "user:doctor")
_phones = count(100)


def _patient(first: str) -> patients.Patient:
    fields = {"first_name": first, "last_name": "Wekesa", "sex": "MALE", "age": 51,
              "phone": f"+254712000{next(_phones):03d}", "insurance_type": "CASH"}  # fmt: skip
    return patients.register(SCOPE, fields, force=True)


def _request(patient_id: str, *codes: str) -> LabRequest:
    """A lab request of `codes`, under a visit opened for the patient (one request per patient here)."""
    visit = visits.open_visit(
        SCOPE,
        patient_id=patient_id,
        chief_complaint="Fever",
        triage_category=visits.TriageCategory.NORMAL,
        payment_type=visits.PaymentType.CASH,
    )
    tests = [LabTest(code=code, name=code.title()) for code in codes]
    return lab.create(SCOPE, patient_id, visit.id, tests, "NORMAL", None)


def _envelope(text: str, name: str = "oru.hl7") -> Envelope:
    """What the agent uploads for `text` received over MLLP (one message: one envelope)."""
    raw = text.replace("\n", "\r").encode()
    source = SourceInfo(kind="mllp", uri="mllp://10.0.0.9:2575", received_at=RECEIVED)
    classified = describe(raw, name, Context(source=source), ident=Identity(CLINIC, "lab-pc"), adapters=ALL_ADAPTERS)
    assert classified.quarantine is None, classified.quarantine
    [envelope] = classified.envelopes
    return envelope


def _oru(pid: str, *, obr2: str = "", obr3: str = "", spm2: str | None = None, obx: list[str]) -> str:
    lines = [
        "MSH|^~\\&|XN-550|SYSMEX|MEDFLOW|CLINIC|20261103095500||ORU^R01^ORU_R01|" + f"M{obr3 or obr2 or spm2}|P|2.5.1",
        f"PID|1||{pid}^^^LAB^PI",
        f"OBR|1|{obr2}|{obr3}|CBC^Complete blood count^L|||20261103094000",
        *obx,
    ]
    if spm2 is not None:
        lines.append(f"SPM|1|{spm2}||BLD")
    return "\n".join(lines)


HGB = "OBX|1|NM|HGB^Haemoglobin^L||13.9|g/dL|12-16|N|||F"
WBC = "OBX|2|NM|WBC^Leukocytes^L||7.2|10*3/uL|4-11|N|||F"
WBC_PANIC = "OBX|2|NM|WBC^Leukocytes^L||105.6|10*3/uL|4-11|HH|||F"


def _ingest(envelope: Envelope) -> Outcome:
    key = envelope_key(envelope.clinic_id, envelope.source.received_at, envelope.envelope_id)
    return ingest_object(key, envelope.to_bytes())


def _events(request_id: str) -> list[DomainEvent]:
    page = events_repo.after(CLINIC, None, limit=1000, next_token=None)
    return [e for e in page.items if e.subject.get("lab_request_id") == request_id]


@pytest.fixture(scope="module", autouse=True)
def resources(module_cloud: ResourceNames) -> ResourceNames:
    return module_cloud


def test_an_oru_naming_the_specimen_in_obr3_completes_the_request(resources: ResourceNames) -> None:
    patient = _patient("Juma")
    request = _request(patient.id, "HGB", "WBC")
    envelope = _envelope(_oru(patient.id, obr3=request.specimen_id, obx=[HGB, WBC]))
    key = put_envelope(resources, envelope)

    answer: dict[str, Any] = dict(
        lambda_handler(sqs_event(s3_notification(resources.bucket, key)), FakeLambdaContext())
    )

    assert answer["batchItemFailures"] == []
    done = lab.get(SCOPE, request.id)
    assert done.status == "COMPLETED" and done.missing == []
    assert [(r.code, r.value, r.unit, r.source) for r in done.results] == [
        ("HGB", "13.9", "g/dL", "analyzer"), ("WBC", "7.2", "10*3/uL", "analyzer"),
    ]  # fmt: skip
    assert {r.envelope_id for r in done.results} == {envelope.envelope_id}
    assert [e.type for e in _events(request.id)] == ["lab.requested", "lab.results_ready"]
    assert _events(request.id)[-1].subject["status"] == "COMPLETED"
    # The results are the patient's readings as well, as before.
    stored = readings_repo.list_for_patient(CLINIC, patient.id, kind="lab", limit=10, next_token=None)
    assert sorted(r.reading["code"] for r in stored.items) == ["HGB", "WBC"]


def test_the_same_envelope_twice_changes_nothing(resources: ResourceNames) -> None:
    patient = _patient("Kamau")
    request = _request(patient.id, "HGB", "WBC")
    envelope = _envelope(_oru(patient.id, obr3=request.specimen_id, obx=[HGB]))
    assert _ingest(envelope) is Outcome.MATCHED
    once = lab.get(SCOPE, request.id)
    # A resend after a crash between linking and the ledger commit: the link itself sees the envelope.
    assert lab.link_results(envelope, patient.id, at=RECEIVED) == []
    assert _ingest(envelope) is Outcome.DUPLICATE
    twice = lab.get(SCOPE, request.id)
    assert once.status == twice.status == "PARTIAL" and twice.missing == ["WBC"]
    assert twice.version == once.version and len(twice.results) == 1
    assert [e.type for e in _events(request.id)].count("lab.results_ready") == 1


def test_partial_then_completed_by_a_second_message(resources: ResourceNames) -> None:
    patient = _patient("Langat")
    request = _request(patient.id, "HGB", "WBC")
    _ingest(_envelope(_oru(patient.id, obr3=request.specimen_id, obx=[HGB])))
    assert lab.get(SCOPE, request.id).status == "PARTIAL"
    _ingest(_envelope(_oru(patient.id, obr2=request.specimen_id, obx=[WBC])))
    done = lab.get(SCOPE, request.id)
    assert done.status == "COMPLETED" and sorted(r.code for r in done.results) == ["HGB", "WBC"]


def test_the_op_number_and_spm2_link_too_and_a_panic_value_raises_lab_critical(resources: ResourceNames) -> None:
    patient = _patient("Mutua")
    assert patient.op_number
    request = _request(patient.id, "HGB", "WBC")
    text = _oru(patient.op_number, obr3="ANALYZER-ACC-991", spm2=request.specimen_id, obx=[HGB, WBC_PANIC])
    _ingest(_envelope(text))
    done = lab.get(SCOPE, request.id)
    assert done.status == "COMPLETED"
    [wbc] = [r for r in done.results if r.code == "WBC"]
    assert (wbc.flag, wbc.critical) == ("HH", True)
    events = _events(request.id)
    [critical] = [e for e in events if e.type == "lab.critical"]
    assert critical.subject == {"lab_request_id": request.id, "patient_id": patient.id,
                                "specimen_id": request.specimen_id, "codes": "WBC"}  # fmt: skip


def test_an_unknown_specimen_stays_a_plain_reading(resources: ResourceNames) -> None:
    patient = _patient("Njeri")
    request = _request(patient.id, "HGB")
    assert _ingest(_envelope(_oru(patient.id, obr3="L9999999", obx=[HGB]))) is Outcome.MATCHED
    assert lab.get(SCOPE, request.id).status == "PENDING"
    stored = readings_repo.list_for_patient(CLINIC, patient.id, kind="lab", limit=10, next_token=None)
    assert [r.reading["code"] for r in stored.items] == ["HGB"]


def test_another_patients_results_never_complete_the_request(resources: ResourceNames) -> None:
    owner, stranger = _patient("Otieno"), _patient("Pendo")
    request = _request(owner.id, "HGB")
    _ingest(_envelope(_oru(stranger.id, obr3=request.specimen_id, obx=[HGB])))
    assert lab.get(SCOPE, request.id).status == "PENDING"


def test_a_completed_request_is_not_reopened_by_a_rerun(resources: ResourceNames) -> None:
    patient = _patient("Rehema")
    request = _request(patient.id, "HGB")
    _ingest(_envelope(_oru(patient.id, obr3=request.specimen_id, obx=[HGB])))
    done = lab.get(SCOPE, request.id)
    rerun = HGB.replace("13.9", "11.0")
    _ingest(_envelope(_oru(patient.id, obr3=request.specimen_id, obx=[rerun])))
    after = lab.get(SCOPE, request.id)
    assert after.status == "COMPLETED" and after.version == done.version and after.results[0].value == "13.9"


def test_astm_results_link_by_the_order_records_specimen_id(resources: ResourceNames) -> None:
    patient = _patient("Sifa")
    request = _request(patient.id, "WBC", "HGB")
    astm = "\n".join([
        "H|\\^&|||XP-100^00-22^11001^^^^12345678||||||||E1394-97",
        f"P|1||{patient.id}",
        f"O|1|{request.specimen_id}||^^^WBC\\^^^HGB|||||||N||||||||||||||F",
        "R|1|^^^WBC^1|7.5|10*3/uL||N||||||20261103094500",
        "R|2|^^^HGB^1|4.1|g/dL||LL||||||20261103094500",
        "L|1|N",
    ])  # fmt: skip
    envelope = _envelope(astm, name="xp100.astm")
    assert envelope.adapter.name == "astm"
    _ingest(envelope)
    done = lab.get(SCOPE, request.id)
    assert done.status == "COMPLETED"
    assert [(r.code, r.value, r.critical) for r in done.results] == [("WBC", "7.5", False), ("HGB", "4.1", True)]
    assert "lab.critical" in [e.type for e in _events(request.id)]
