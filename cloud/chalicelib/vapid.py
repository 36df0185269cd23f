"""VAPID keys (RFC 8292) for web push: generate a pair, read a PEM key file, derive and check the public key.

Keys travel as base64url without padding, the form browsers and `web-push generate-vapid-keys` use: the
private key is the raw 32-byte P-256 scalar, the public key the 65-byte uncompressed point (0x04 || X || Y)
the portal passes to `pushManager.subscribe({applicationServerKey})`. No IO but `read_key_file`.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
PRIVATE_KEY_BYTES = 32
PUBLIC_KEY_BYTES = 65  # uncompressed P-256 point


def b64url_decode(value: str) -> bytes:
    """Strict base64url (padding optional); ValueError for anything else (standard base64's + and / too)."""
    if not _B64URL.match(value):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def p256_point(value: str) -> ec.EllipticCurvePublicKey:
    """The P-256 public key an uncompressed point in base64url names; ValueError when it is none."""
    raw = b64url_decode(value)
    if len(raw) != PUBLIC_KEY_BYTES or raw[0] != 0x04:
        raise ValueError(f"must be a {PUBLIC_KEY_BYTES}-byte uncompressed P-256 point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # raises ValueError off the curve


def _public(key: ec.EllipticCurvePrivateKey) -> str:
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url_encode(point)


def private_key(raw: str) -> ec.EllipticCurvePrivateKey:
    """The key a raw base64url private scalar names; ValueError otherwise."""
    scalar = b64url_decode(raw.strip())
    if len(scalar) != PRIVATE_KEY_BYTES:
        raise ValueError(f"a VAPID private key is {PRIVATE_KEY_BYTES} bytes, base64url")
    return ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())


def public_key_of(raw_private: str) -> str:
    """The base64url public key of a raw base64url private key."""
    return _public(private_key(raw_private))


def generate() -> tuple[str, str]:
    """A new pair: (private, public), both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(PRIVATE_KEY_BYTES, "big")
    return b64url_encode(scalar), _public(key)


def to_pem(raw_private: str) -> bytes:
    """The private key as PKCS#8 PEM (what `py_vapid`'s `vapid --gen` writes and reads)."""
    return private_key(raw_private).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def read_key_file(path: Path) -> str:
    """The raw base64url private key of a PEM file holding a P-256 private key; ValueError otherwise."""
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise ValueError("the VAPID key file must hold a P-256 (prime256v1) private key")
    return b64url_encode(loaded.private_numbers().private_value.to_bytes(PRIVATE_KEY_BYTES, "big"))
