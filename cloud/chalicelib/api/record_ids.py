"""The `{encounter_id}`, `{prescription_id}`, `{allergy_id}` path parameters of the clinical domains, checked the
same way as `{patient_id}` (api/params.py): URL-decoded, stripped, 1-128 printable characters, else 422."""

from __future__ import annotations

from urllib.parse import unquote

from chalicelib.api.params import MAX_PATIENT_ID
from chalicelib.errors import InvalidInput


def record_id(raw: str, name: str) -> str:
    value = unquote(raw).strip()
    if not value or len(value) > MAX_PATIENT_ID or not value.isprintable():
        raise InvalidInput(f"{name} must be 1-{MAX_PATIENT_ID} printable characters", code=f"invalid_{name}",
                           field=name)  # fmt: skip
    return value
