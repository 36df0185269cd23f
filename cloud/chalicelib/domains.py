"""The domain registry: one line per domain. The app registers its blueprints, `db.store` binds its items,
the local bootstrap and `infra/` create the tables its items use, OpenAPI documents its routes and the
authorization-matrix test exercises them — all from this list. Adding a domain is its three modules
(`api/<d>.py`, `services/<d>.py`, `db/<d>.py`) and one line here; see docs/cloud.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from chalicelib.api import account as account_api
from chalicelib.api import agents as agents_api
from chalicelib.api import alerts as alerts_api
from chalicelib.api import audit as audit_api
from chalicelib.api import auth as auth_api
from chalicelib.api import clinics as clinics_api
from chalicelib.api import docs as docs_api
from chalicelib.api import events as events_api
from chalicelib.api import health as health_api
from chalicelib.api import patients as patients_api
from chalicelib.api import quarantine as quarantine_api
from chalicelib.api import readings as readings_api
from chalicelib.api import totp as totp_api
from chalicelib.api import user_sessions as user_sessions_api
from chalicelib.api import users as users_api
from chalicelib.db import (
    agents,
    alerts,
    audit,
    events,
    ledger,
    lockout,
    login_throttle,
    patient_index,
    patients,
    quarantine,
    readings,
    sessions,
    unmatched,
    users,
)
from chalicelib.db import clinics as clinics_db
from chalicelib.resources import TABLES, TableSpec


@dataclass(frozen=True)
class Domain:
    name: str
    api: ModuleType | None  # its blueprint module (`bp`); None for back-end-only domains (ingest)
    db: tuple[ModuleType, ...] = ()  # its repositories; each lists its PynamoDB classes in `ITEMS`
    ingest: bool = False  # the ingest function writes its records too (its tables go in that role's policy)
    fleet: bool = False  # the scheduled fleet-health function reads or writes its records


DOMAINS: tuple[Domain, ...] = (
    Domain("health", health_api),
    Domain("docs", docs_api),
    Domain("auth", auth_api, (sessions, login_throttle)),
    Domain("account", account_api),
    Domain("clinics", clinics_api, (clinics_db,)),
    Domain("users", users_api, (users, lockout)),
    Domain("user_sessions", user_sessions_api),
    Domain("totp", totp_api),
    Domain("audit", audit_api, (audit,), ingest=True, fleet=True),
    Domain("events", events_api, (events,), ingest=True, fleet=True),
    Domain("patients", patients_api, (patients, patient_index), ingest=True),
    Domain("readings", readings_api, (readings, unmatched), ingest=True),
    Domain("agents", agents_api, (agents,), ingest=True, fleet=True),
    Domain("alerts", alerts_api, (alerts,), ingest=True, fleet=True),
    Domain("quarantine", quarantine_api, (quarantine,), ingest=True),
    Domain("ingest", None, (ledger,), ingest=True),
)


def blueprints() -> Iterator[Any]:
    for domain in DOMAINS:
        if domain.api is not None:
            yield domain.api.bp


def items() -> list[Any]:
    """Every PynamoDB item class of every domain (what `db.store.bound()` binds)."""
    return [item for domain in DOMAINS for module in domain.db for item in module.ITEMS]


def function_tables() -> dict[str, tuple[str, ...]]:
    """The table keys each Lambda function uses, for its least-privilege policy (infra/policies.py): the API
    every domain with routes, the ingest function the domains it writes."""

    def keys(selected: list[Domain]) -> tuple[str, ...]:
        used = {item.TABLE for domain in selected for module in domain.db for item in module.ITEMS}
        return tuple(spec.key for spec in TABLES if spec.key in used)

    return {
        "api": keys([domain for domain in DOMAINS if domain.api is not None]),
        "ingest": keys([domain for domain in DOMAINS if domain.ingest]),
        "fleet": keys([domain for domain in DOMAINS if domain.fleet]),
    }


def tables() -> tuple[TableSpec, ...]:
    """The table specs the registered domains use, in resources.TABLES order."""
    used = {item.TABLE for item in items()}
    return tuple(spec for spec in TABLES if spec.key in used)
