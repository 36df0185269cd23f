"""Path parameters shared by blueprints, checked the same way everywhere (422 on a bad value)."""

from __future__ import annotations

from urllib.parse import unquote

from chalicelib.errors import InvalidInput

MAX_PATIENT_ID = 128

# How OpenAPI documents each path parameter (api/openapi.py). Ids are opaque; the pattern documents the
# safe subset (printable ASCII, no surrounding spaces) of what `patient_id` accepts.
SCHEMAS: dict[str, dict[str, object]] = {
    "patient_id": {"type": "string", "minLength": 1, "maxLength": MAX_PATIENT_ID, "pattern": "^[!-~]([ -~]*[!-~])?$"},
    "lab_request_id": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_PATIENT_ID,
        "pattern": "^[!-~]([ -~]*[!-~])?$",
    },
}
DEFAULT_SCHEMA: dict[str, object] = {"type": "string", "minLength": 1}


def patient_id(raw: str) -> str:
    """The `{patient_id}` of a path: URL-decoded, stripped, 1-128 printable characters."""
    value = unquote(raw).strip()
    if not value or len(value) > MAX_PATIENT_ID or not value.isprintable():
        raise InvalidInput(f"patient_id must be 1-{MAX_PATIENT_ID} printable characters", code="invalid_patient_id")
    return value
