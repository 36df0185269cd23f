"""Clinics of an organisation: created by organisation admins, read by their staff, updated by their admins.

An organisation admin reaches every clinic of its organisation; everyone else only the clinic of their
token. Another organisation's clinic answers 404, as an unknown one does.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import zoneinfo
from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from chalicelib.db import clinics as clinics_repo
from chalicelib.db import store
from chalicelib.db.clinics import Clinic
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.models import Page
from chalicelib.services import audit
from chalicelib.services.scope import Scope

CURRENCIES = ("CDF", "USD", "KES")
DEFAULT_TIMEZONE = "Africa/Nairobi"
DEFAULT_CURRENCY = "KES"
CLINIC_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # the S3 key segment rule of shared_models.s3keys


def check_clinic_id(clinic_id: str) -> str:
    if not CLINIC_ID.match(clinic_id):
        raise InvalidInput(
            f"clinic id {clinic_id!r} may hold only letters, digits, '_', '.', '-' (1-64 characters)",
            code="invalid_clinic_id",
            field="id",
        )
    return clinic_id


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    if name not in _zones():
        raise InvalidInput(f"{name!r} is not an IANA time zone (e.g. Africa/Nairobi)", code="invalid_timezone",
                           field="timezone")  # fmt: skip
    return name


def check_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise InvalidInput(f"the currency must be one of {', '.join(CURRENCIES)}", code="invalid_currency",
                           field="currency")  # fmt: skip
    return code


def new_id(name: str) -> str:
    """A readable id: the name's slug (ASCII, at most 40 characters) and a short random suffix."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-") or "clinic"
    return f"{slug}-{secrets.token_hex(3)}"


def create(
    scope: Scope,
    *,
    name: str,
    timezone: str | None = None,
    currency: str | None = None,
    address: str | None = None,
    clinic_id: str | None = None,
    now: datetime | None = None,
) -> Clinic:
    """A new clinic in the caller's organisation (organisation admins only: the route's permission)."""
    if not scope.org_admin or scope.org_id is None:
        raise NotFound("no such organisation", code="not_found")
    now = now or datetime.now(UTC)
    clinic = Clinic(
        id=check_clinic_id(clinic_id) if clinic_id else new_id(name),
        org_id=scope.org_id,
        name=name,
        timezone=check_timezone(timezone or DEFAULT_TIMEZONE),
        currency=check_currency(currency or DEFAULT_CURRENCY),
        address=address,
        created_at=now,
        updated_at=now,
    )
    _save(scope.in_clinic(clinic.id), clinic, "clinic.created", new=True)
    return clinic


def ensure(clinic_id: str, org_id: str, *, actor: str, now: datetime) -> Clinic:
    """The clinic, created (named after its id) when missing: the operator CLI's first admin needs one."""
    existing = clinics_repo.get(check_clinic_id(clinic_id))
    if existing is not None:
        return existing
    clinic = Clinic(id=clinic_id, org_id=org_id, name=clinic_id, timezone=DEFAULT_TIMEZONE,
                    currency=DEFAULT_CURRENCY, created_at=now, updated_at=now)  # fmt: skip
    try:
        _save(Scope.system(clinic_id, actor, org_id=org_id), clinic, "clinic.created", new=True)
    except Conflict:
        pass  # created concurrently
    return clinics_repo.get(clinic_id) or clinic


def visible(scope: Scope, clinic_id: str) -> Clinic:
    """The clinic if the caller may reach it (its own, or its organisation's for an organisation admin)."""
    clinic = clinics_repo.get(clinic_id) if CLINIC_ID.match(clinic_id) else None
    if clinic is None or not (
        clinic.id == scope.clinic_id or (scope.org_admin and scope.org_id is not None and clinic.org_id == scope.org_id)
    ):
        raise NotFound("no such clinic", code="not_found", field="clinic_id")
    return clinic


def list_visible(scope: Scope, *, limit: int, next_token: str | None) -> Page[Clinic]:
    if scope.org_admin and scope.org_id is not None:
        return clinics_repo.list_for_org(scope.org_id, limit=limit, next_token=next_token)
    own = clinics_repo.get(scope.clinic_id)
    return Page[Clinic](items=[own] if own is not None and next_token is None else [], next=None)


def update(scope: Scope, clinic_id: str, changes: dict[str, object], *, now: datetime | None = None) -> Clinic:
    """Changes name, timezone, currency or address (`changes` holds only the fields given)."""
    clinic = visible(scope, clinic_id)
    if "timezone" in changes:
        check_timezone(str(changes["timezone"]))
    if "currency" in changes:
        check_currency(str(changes["currency"]))
    if not changes:
        return clinic
    now = now or datetime.now(UTC)
    updated = clinic.model_copy(update={**changes, "updated_at": now})
    _save(scope.in_clinic(clinic.id), updated, "clinic.updated", new=False, fields=",".join(sorted(changes)))
    return updated


def set_security(scope: Scope, clinic_id: str, require_totp_roles: list[str], *, now: datetime | None = None) -> Clinic:
    clinic = visible(scope, clinic_id)
    now = now or datetime.now(UTC)
    updated = clinic.model_copy(
        update={"require_totp_roles": tuple(sorted(set(require_totp_roles))), "updated_at": now}
    )
    _save(scope.in_clinic(clinic.id), updated, "clinic.security_updated", new=False,
          require_totp_roles=",".join(updated.require_totp_roles))  # fmt: skip
    return updated


def _save(scope: Scope, clinic: Clinic, action: str, *, new: bool, **target: str) -> None:
    by_id, by_org = clinics_repo.items(clinic)
    condition = clinics_repo.is_new() if new else clinics_repo.exists()
    try:
        with audit.change(scope, action, resource="clinic", resource_id=clinic.id, at=clinic.updated_at,
                          **target) as change:  # fmt: skip
            change.save(by_id, condition=condition)
            change.save(by_org, condition=condition)
            change.emit(action, clinic_id=clinic.id)
    except store.ConditionFailed:
        if new:
            raise Conflict(f"a clinic with id {clinic.id!r} already exists", code="clinic_exists", field="id") from None
        raise NotFound("no such clinic", code="not_found", field="clinic_id") from None


def zone(clinic_id: str) -> tzinfo:
    """The clinic's time zone (its record's), UTC when the clinic has no record: what "today" means at the desk
    (the visits queue, the day's appointments)."""
    clinic = clinics_repo.get(clinic_id)
    if clinic is None:
        return UTC
    try:
        return zoneinfo.ZoneInfo(clinic.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC
