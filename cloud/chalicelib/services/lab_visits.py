"""The lab's one door to visits: the visit a request is ordered under, and the LAB_TEST charge per test.

Kept apart so that the visits domain (built in parallel) plugs in here and nowhere else."""

from __future__ import annotations

from typing import Any

from chalicelib.services import audit
from chalicelib.services.scope import Scope


def require_for_patient(scope: Scope, visit_id: str, patient_id: str) -> Any:
    """The visit `visit_id` of this patient (404 unknown, 422 visit_patient_mismatch)."""
    return visit_id  # until the visits domain is merged: the id as given


def charge(c: audit.Change, scope: Scope, visit: Any, *, code: str, description: str) -> None:
    """One LAB_TEST charge on the visit's bill, in the request's transaction."""
