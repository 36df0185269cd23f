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
from chalicelib.api import allergies as allergies_api
from chalicelib.api import appointments as appointments_api
from chalicelib.api import audit as audit_api
from chalicelib.api import auth as auth_api
from chalicelib.api import charges as charges_api
from chalicelib.api import clinics as clinics_api
from chalicelib.api import dashboard as dashboard_api
from chalicelib.api import diagnoses as diagnoses_api
from chalicelib.api import docs as docs_api
from chalicelib.api import encounters as encounters_api
from chalicelib.api import events as events_api
from chalicelib.api import health as health_api
from chalicelib.api import lab as lab_api
from chalicelib.api import messaging as messaging_api
from chalicelib.api import patient_auth as patient_auth_api
from chalicelib.api import patients as patients_api
from chalicelib.api import payments as payments_api
from chalicelib.api import prescriptions as prescriptions_api
from chalicelib.api import programs as programs_api
from chalicelib.api import push as push_api
from chalicelib.api import quarantine as quarantine_api
from chalicelib.api import readings as readings_api
from chalicelib.api import scans as scans_api
from chalicelib.api import sha_invoices as sha_invoices_api
from chalicelib.api import tagging as tagging_api
from chalicelib.api import totp as totp_api
from chalicelib.api import user_sessions as user_sessions_api
from chalicelib.api import users as users_api
from chalicelib.api import visits as visits_api
from chalicelib.db import (
    agent_config,
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
    scans,
    sequences,
    sessions,
    unmatched,
    users,
)
from chalicelib.db import allergies as allergies_db
from chalicelib.db import appointments as appointments_db
from chalicelib.db import charges as charges_db
from chalicelib.db import clinics as clinics_db
from chalicelib.db import dashboard as dashboard_db
from chalicelib.db import diagnoses as diagnoses_db
from chalicelib.db import encounters as encounters_db
from chalicelib.db import lab as lab_db
from chalicelib.db import messaging as messaging_db
from chalicelib.db import patient_auth as patient_auth_db
from chalicelib.db import payments as payments_db
from chalicelib.db import prescriptions as prescriptions_db
from chalicelib.db import programs as programs_db
from chalicelib.db import push as push_db
from chalicelib.db import sha_invoices as sha_invoices_db
from chalicelib.db import tagging as tagging_db
from chalicelib.db import visits as visits_db
from chalicelib.resources import TABLES, TableSpec


@dataclass(frozen=True)
class Domain:
    name: str
    api: ModuleType | None  # its blueprint module (`bp`); None for back-end-only domains (ingest)
    db: tuple[ModuleType, ...] = ()  # its repositories; each lists its PynamoDB classes in `ITEMS`
    ingest: bool = False  # the ingest function writes its records too (its tables go in that role's policy)
    functions: tuple[str, ...] = ()  # other back-end functions writing its records (with the audit and events tables)


DOMAINS: tuple[Domain, ...] = (
    Domain("health", health_api),
    Domain("docs", docs_api),
    Domain("auth", auth_api, (sessions, login_throttle)),
    Domain("account", account_api),
    Domain("clinics", clinics_api, (clinics_db, sequences)),
    Domain("users", users_api, (users, lockout)),
    Domain("user_sessions", user_sessions_api),
    Domain("totp", totp_api),
    Domain("audit", audit_api, (audit,), ingest=True),
    Domain("events", events_api, (events,), ingest=True),
    Domain("patients", patients_api, (patients, patient_index), ingest=True),
    Domain("readings", readings_api, (readings, unmatched), ingest=True),
    Domain("agents", agents_api, (agents, agent_config), ingest=True, functions=("fleet",)),
    Domain("alerts", alerts_api, (alerts,), ingest=True, functions=("fleet",)),
    Domain("quarantine", quarantine_api, (quarantine,), ingest=True),
    Domain("ingest", None, (ledger,), ingest=True),
    Domain("visits", visits_api, (visits_db,)),
    Domain("charges", charges_api, (charges_db,)),
    Domain("payments", payments_api, (payments_db,)),
    Domain("sha_invoices", sha_invoices_api, (sha_invoices_db,)),
    Domain("appointments", appointments_api, (appointments_db,)),
    Domain("encounters", encounters_api, (encounters_db,)),
    Domain("diagnoses", diagnoses_api, (diagnoses_db,)),
    Domain("allergies", allergies_api, (allergies_db,)),
    Domain("prescriptions", prescriptions_api, (prescriptions_db,)),
    Domain("programs", programs_api, (programs_db,)),
    Domain("lab", lab_api, (lab_db,), ingest=True),
    Domain("patient_auth", patient_auth_api, (patient_auth_db,)),
    Domain("messaging", messaging_api, (messaging_db,)),
    Domain("scans", scans_api, (scans,), functions=("thumbnails",)),
    Domain("push", push_api, (push_db,), functions=("notify",)),
    Domain("tagging", tagging_api, (tagging_db,)),
    Domain("dashboard", dashboard_api, (dashboard_db,)),
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

    tables = {
        "api": keys([domain for domain in DOMAINS if domain.api is not None]),
        "ingest": keys([domain for domain in DOMAINS if domain.ingest]),
    }
    for function in sorted({name for domain in DOMAINS for name in domain.functions}):
        # Every change writes its audit entry and outbox events in its transaction.
        tables[function] = keys(
            [domain for domain in DOMAINS if function in domain.functions or domain.name in ("audit", "events")]
        )
    return tables


def tables() -> tuple[TableSpec, ...]:
    """The table specs the registered domains use, in resources.TABLES order."""
    used = {item.TABLE for item in items()}
    return tuple(spec for spec in TABLES if spec.key in used)
