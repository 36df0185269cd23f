"""Opaque page tokens: the DynamoDB LastEvaluatedKey as base64url JSON, checked against the query it continues."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.errors import InvalidInput

MAX_TOKEN_LENGTH = 2048


def encode(last_evaluated_key: dict[str, dict[str, Any]] | None) -> str | None:
    if not last_evaluated_key:
        return None
    plain = {name: value["S"] for name, value in last_evaluated_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def decode(token: str | None, pk: str, key_names: set[str]) -> dict[str, dict[str, Any]] | None:
    """The exclusive start key, or None. A token from another query or another clinic is rejected, never used."""
    if not token:
        return None
    invalid = InvalidInput("the 'next' token is not valid for this query", code="invalid_page_token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        plain = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(plain, dict) or set(plain) != key_names or plain.get("pk") != pk:
        raise invalid
    if not all(isinstance(value, str) for value in plain.values()):
        raise invalid
    return {name: {"S": value} for name, value in plain.items()}
