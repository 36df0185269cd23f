"""Staff access tokens: short-lived HS256 JWTs with user, clinic and role; the clinic never comes from the request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from chalicelib.errors import Unauthenticated
from chalicelib.services.roles import Role
from chalicelib.settings import Settings

ALGORITHM = "HS256"
AUDIENCE = "medflow-staff-api"
TOKEN_TYPE = "access"  # noqa: S105 - the JWT "typ" claim, not a secret
LEEWAY_SECONDS = 5  # clock skew between API instances


@dataclass(frozen=True)
class Principal:
    """Who is calling: taken from a verified token only."""

    user_id: str
    clinic_id: str
    role: Role
    token_id: str
    session_id: str | None = None  # the login this token came from (absent in tokens minted by tools)
    org_id: str | None = None  # the clinic's organisation
    org_admin: bool = False  # may create clinics and users anywhere in the organisation
    token_scope: str | None = None  # a restricted token (e.g. "totp_enrolment"); None for a full access token
    patient_id: str | None = None  # a patient token (role `patient`): the only patient it reaches


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int  # seconds


def issue(
    *,
    user_id: str,
    clinic_id: str,
    role: str,
    settings: Settings,
    now: datetime | None = None,
    session_id: str | None = None,
    org_id: str | None = None,
    org_admin: bool = False,
    scope: str | None = None,
    minutes: int | None = None,
    patient_id: str | None = None,
) -> AccessToken:
    """`scope` makes a restricted token (its own `typ`, so only routes that name the scope accept it)."""
    now = now or datetime.now(UTC)
    lifetime = timedelta(minutes=minutes or settings.access_token_minutes)
    claims: dict[str, object] = {
        "iss": settings.issuer,
        "aud": AUDIENCE,
        "sub": user_id,
        "clinic_id": clinic_id,
        "role": role,
        "typ": scope or TOKEN_TYPE,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if session_id is not None:
        claims["sid"] = session_id
    if org_id is not None:
        claims["org"] = org_id
    if org_admin:
        claims["org_admin"] = True
    if scope is not None:
        claims["scope"] = scope
    if patient_id is not None:
        claims["pid"] = patient_id
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
    return AccessToken(token=token, expires_in=int(lifetime.total_seconds()))


def verify(token: str, settings: Settings, *, scopes: frozenset[str] = frozenset()) -> Principal:
    """The principal of a valid token; `Unauthenticated` with a precise reason otherwise. Restricted tokens
    are refused unless their scope is in `scopes` (what the route accepts besides full access tokens)."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=settings.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the access token has expired; log in again", code="token_expired") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the access token is not valid", code="invalid_token") from None
    typ, token_scope = claims.get("typ"), claims.get("scope")
    restricted = typ != TOKEN_TYPE and typ == token_scope and token_scope in scopes
    if (typ != TOKEN_TYPE and not restricted) or not isinstance(claims.get("clinic_id"), str):
        raise Unauthenticated("the access token is not valid", code="invalid_token")
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise Unauthenticated("the access token is not valid", code="invalid_token") from None
    sid = claims.get("sid")
    org = claims.get("org")
    pid = claims.get("pid")
    # A patient token always names its patient, and only a patient token names one.
    if (role is Role.PATIENT) != (isinstance(pid, str) and bool(pid)):
        raise Unauthenticated("the access token is not valid", code="invalid_token")
    return Principal(
        user_id=str(claims["sub"]),
        clinic_id=claims["clinic_id"],
        role=role,
        token_id=str(claims["jti"]),
        session_id=sid if isinstance(sid, str) else None,
        org_id=org if isinstance(org, str) else None,
        org_admin=claims.get("org_admin") is True,
        token_scope=str(token_scope) if restricted else None,
        patient_id=pid if isinstance(pid, str) else None,
    )
