"""The one place the clinical domains (encounters, prescriptions) reach the visits domain: which visit a record
belongs to, and the charge a dispensed medication adds to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.services.scope import Scope


@dataclass(frozen=True)
class VisitRef:
    id: str


def visit_of_patient(scope: Scope, visit_id: str, patient_id: str) -> VisitRef:
    """The visit `visit_id` of the caller's clinic, which must be the patient's (404 / 422 otherwise)."""
    return VisitRef(id=visit_id)


def charge_medication(c: Any, scope: Scope, visit_id: str, patient_id: str, medication: str, quantity: int) -> None:
    """Adds the MEDICATION charge of a dispensing to the visit's bill, inside the dispensing's transaction."""
