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
    "scan_session_id": {"type": "string", "minLength": 32, "maxLength": 32, "pattern": "^[0-9a-f]{32}$"},
}
DEFAULT_SCHEMA: dict[str, object] = {"type": "string", "minLength": 1}


def patient_id(raw: str) -> str:
    """The `{patient_id}` of a path: URL-decoded, stripped, 1-128 printable characters."""
    value = unquote(raw).strip()
    if not value or len(value) > MAX_PATIENT_ID or not value.isprintable():
        raise InvalidInput(f"patient_id must be 1-{MAX_PATIENT_ID} printable characters", code="invalid_patient_id")
    return value


def scan_session_id(raw: str) -> str:
    """The `{scan_session_id}` of a path: 32 lowercase hex characters (as sessions are minted)."""
    value = unquote(raw).strip()
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidInput("scan_session_id must be 32 lowercase hex characters", code="invalid_session_id")
    return value
