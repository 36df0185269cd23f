"""Encryption at rest of small secrets kept in DynamoDB (TOTP seeds): AES-256-GCM under a key derived with
HKDF-SHA256 from the JWT secret, with the owner's id as associated data (a value copied onto another
account does not decrypt). Rotating the JWT secret makes stored values unreadable: their owners enrol again.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chalicelib.settings import get_settings

VERSION = "v1"
_INFO = b"medflow/totp-secret/v1"


def _key() -> bytes:
    secret = get_settings().jwt_secret.get_secret_value().encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def seal(plaintext: str, owner: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key()).encrypt(nonce, plaintext.encode(), owner.encode())
    return f"{VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def open_sealed(value: str, owner: str) -> str | None:
    """The plaintext, or None when the value is not ours (another key, another owner, tampered)."""
    version, _, body = value.partition(":")
    if version != VERSION:
        return None
    try:
        raw = base64.urlsafe_b64decode(body.encode())
        return AESGCM(_key()).decrypt(raw[:12], raw[12:], owner.encode()).decode()
    except Exception:  # noqa: BLE001 - InvalidTag, bad base64, bad length: all mean "not readable"
        return None
