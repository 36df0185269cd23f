"""Password hashing with argon2id (argon2-cffi defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chalicelib.errors import InvalidInput

MIN_LENGTH = 12
MAX_LENGTH = 1024  # bounds the hashing work an attacker can request

_hasher = PasswordHasher()  # argon2id


def check_policy(password: str, *, email: str | None = None) -> None:
    """422 `weak_password` (field `password`) naming the rule broken: at least `MIN_LENGTH` characters,
    not all of one class (letters / digits / other), not the email address or its local part."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"the password must have at least {MIN_LENGTH} characters", code="weak_password", field="password"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            f"the password must have at most {MAX_LENGTH} characters", code="invalid_password", field="password"
        )
    classes = {"letter" if c.isalpha() else "digit" if c.isdigit() else "other" for c in password}
    if len(classes) < 2:
        raise InvalidInput(
            "the password must mix at least two kinds of characters (letters, digits, spaces or symbols)",
            code="weak_password",
            field="password",
        )
    if email:
        lowered, local = password.strip().lower(), email.lower().split("@", 1)[0]
        if lowered in (email.lower(), local) or email.lower() in lowered:
            raise InvalidInput("the password must not be the email address", code="weak_password", field="password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(24))


def burn_time(password: str) -> None:
    """Spends the same work as a real check, so an unknown email is not told apart by timing."""
    verify(_decoy_hash(), password)
