"""Opaque page tokens: DynamoDB's LastEvaluatedKey as base64url JSON, HMAC-signed and bound to the query it continues.

A client can neither forge a start key (any sort-key value, empty or oversized keys) nor carry a token
from one query, partition or clinic to another: a token whose signature does not match is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from chalicelib.errors import InvalidInput
from chalicelib.settings import get_settings

MAX_TOKEN_LENGTH = 2048
_SIGNATURE_BYTES = 16


def _key() -> bytes:
    # Derived from the JWT secret so that no second secret has to be provisioned; a separate label
    # keeps a page token from ever being usable as anything else.
    return hashlib.sha256(b"medflow-page-cursor\0" + get_settings().jwt_secret.get_secret_value().encode()).digest()


def _sign(payload: bytes, scope: str) -> bytes:
    return hmac.new(_key(), scope.encode() + b"\0" + payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def encode(last_evaluated_key: dict[str, dict[str, Any]] | None, scope: str) -> str | None:
    if not last_evaluated_key:
        return None
    plain = {name: value["S"] for name, value in last_evaluated_key.items()}
    payload = json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_sign(payload, scope) + payload).decode().rstrip("=")


def decode(token: str | None, scope: str) -> dict[str, dict[str, Any]] | None:
    """The exclusive start key, or None. A token that was not issued for `scope` is rejected."""
    if not token:
        return None
    invalid = InvalidInput("the 'next' token is not valid for this query", code="invalid_page_token", field="next")
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise invalid from None
    signature, payload = raw[:_SIGNATURE_BYTES], raw[_SIGNATURE_BYTES:]
    if not hmac.compare_digest(signature, _sign(payload, scope)):
        raise invalid
    plain = json.loads(payload)
    return {name: {"S": value} for name, value in plain.items()}
