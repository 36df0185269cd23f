"""The order a lab request sends to an analyzer: an HL7 v2.5.1 OML^O21 message (pure: no IO).

An interface engine (or the edge agent's MLLP link) hands it to the analyzer, which answers with an ORU whose
OBR-2/OBR-3 (placer/filler order number) and SPM-2 carry the specimen id: that is what links the results
back (services/lab.py, `link_results`). One ORC/TQ1/OBR/SPM group per ordered test, all with the specimen id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

MESSAGE_TYPE = "OML^O21^OML_O21"
# TQ1-9 priority (HL7 table 0485): S stat, A as soon as possible, R routine.
PRIORITY = {"STAT": "S", "URGENT": "A", "NORMAL": "R"}
_SEX = {"FEMALE": "F", "MALE": "M", "OTHER": "O"}


@dataclass(frozen=True)
class OrderPatient:
    patient_id: str
    op_number: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    date_of_birth: str | None = None  # ISO date
    sex: str | None = None  # MALE | FEMALE | OTHER


def escape(text: str) -> str:
    """A value made safe inside an HL7 field (the standard escapes for the MSH-2 delimiters ^~\\&)."""
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def oml_o21(
    *,
    clinic_id: str,
    control_id: str,
    patient: OrderPatient,
    specimen_id: str,
    urgency: str,
    tests: list[tuple[str, str]],
    requested_at: datetime,
    now: datetime,
) -> str:
    """The message text, segments separated by CR (as MLLP carries them)."""
    ids = [f"{escape(patient.patient_id)}^^^MEDFLOW^PI"]
    if patient.op_number:
        ids.append(f"{escape(patient.op_number)}^^^MEDFLOW^MR")
    name = "^".join(escape(part or "") for part in (patient.last_name, patient.first_name)).rstrip("^")
    dob = (patient.date_of_birth or "").replace("-", "")
    segments = [
        f"MSH|^~\\&|MEDFLOW|{escape(clinic_id)}|LAB|{escape(clinic_id)}|{_ts(now)}||{MESSAGE_TYPE}|"
        f"{escape(control_id)[:20]}|P|2.5.1",
        f"PID|1||{'~'.join(ids)}||{name}||{dob}|{_SEX.get(patient.sex or '', '')}",
    ]
    specimen, priority, requested = escape(specimen_id), PRIORITY.get(urgency, "R"), _ts(requested_at)
    for number, (code, test_name) in enumerate(tests, start=1):
        segments += [
            f"ORC|NW|{specimen}|{specimen}|||||||{requested}",
            f"TQ1|1||||||||{priority}",
            f"OBR|{number}|{specimen}|{specimen}|{escape(code)}^{escape(test_name)}^L|||{requested}",
            f"SPM|{number}|{specimen}",
        ]
    return "\r".join(segments) + "\r"
