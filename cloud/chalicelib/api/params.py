"""Path parameters shared by blueprints, checked the same way everywhere (422 on a bad value)."""

from __future__ import annotations

from urllib.parse import unquote

from chalicelib.errors import InvalidInput

MAX_PATIENT_ID = 128


def patient_id(raw: str) -> str:
    """The `{patient_id}` of a path: URL-decoded, stripped, 1-128 printable characters."""
    value = unquote(raw).strip()
    if not value or len(value) > MAX_PATIENT_ID or not value.isprintable():
        raise InvalidInput(f"patient_id must be 1-{MAX_PATIENT_ID} printable characters", code="invalid_patient_id")
    return value
