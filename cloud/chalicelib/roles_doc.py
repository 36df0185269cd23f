"""Writes docs/roles.md from the permission table (`services/roles.py`) and the route table: who may do what,
and which permission each route needs. `make roles-doc`; a test fails when the committed file differs.

    python -m chalicelib.roles_doc ../docs/roles.md     (from cloud/)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from chalicelib import domains
from chalicelib.api.endpoint import ROUTES
from chalicelib.services.roles import ORGANISATION_ONLY, ROLE_PERMISSIONS, Permission, Role, allows

MEANING: dict[Permission, str] = {
    Permission.SESSION_END: "log out (end one's own session)",
    Permission.SELF_MANAGE: "change one's own password and second factor, switch clinic",
    Permission.CLINICS_CREATE: "create a clinic in the organisation",
    Permission.CLINICS_READ: "read the clinic's settings",
    Permission.CLINICS_UPDATE: "change the clinic's name, timezone, currency, address",
    Permission.USERS_READ: "list and read the clinic's staff accounts and sessions",
    Permission.USERS_MANAGE: "create staff, change roles, deactivate, reset passwords, unlock, end sessions",
    Permission.PATIENTS_REGISTER: "register a patient",
    Permission.PATIENTS_READ: "find patients and read their demographics",
    Permission.PATIENTS_UPDATE: "edit a patient's demographics",
    Permission.READINGS_READ: "read a patient's device readings",
    Permission.UNMATCHED_READ: "list device readings awaiting a patient match",
    Permission.UNMATCHED_ASSIGN: "attach unmatched readings to a patient (or undo it the same day)",
    Permission.AGENTS_READ: "see the clinic's edge agents (heartbeats, counters)",
    Permission.AGENTS_CONFIGURE: "read and publish an edge agent's remote configuration (its sources, live settings)",
    Permission.QUARANTINE_READ: "see files the edge could not read",
    Permission.AUDIT_READ: "read the clinic's audit trail",
    Permission.EVENTS_READ: "read the clinic's domain events",
    Permission.VISITS_OPEN: "open a visit for a registered patient",
    Permission.VISITS_READ: "read the clinic's queue and a visit",
    Permission.VISITS_UPDATE: "move a visit through its statuses and discharge it",
    Permission.ENCOUNTERS_TRIAGE: "record a triage encounter with vital signs",
    Permission.ENCOUNTERS_CONSULT: "record a consultation and its ICD-10 diagnoses",
    Permission.ENCOUNTERS_READ: "read a patient's encounters and diagnoses",
    Permission.ALLERGIES_READ: "read a patient's recorded allergies",
    Permission.ALLERGIES_WRITE: "record or remove a patient's allergies",
    Permission.PRESCRIPTIONS_WRITE: "prescribe (and override an allergy block with a reason)",
    Permission.PRESCRIPTIONS_READ: "read a patient's prescriptions",
    Permission.PRESCRIPTIONS_DISPENSE: "dispense (or partly dispense, or cancel) a prescription",
    Permission.LAB_ORDER: "request lab tests",
    Permission.LAB_READ: "read lab requests and their results",
    Permission.LAB_RESULTS: "enter lab results by hand",
    Permission.PROGRAMS_READ: "read immunization, family planning and MCH records",
    Permission.PROGRAMS_WRITE: "record immunizations, family planning and MCH services",
    Permission.PAYMENTS_TAKE: "take payments and refunds",
    Permission.BILLING_READ: "read bills, payments and SHA invoices",
    Permission.INVOICES_MANAGE: "create SHA invoices and move them through their lifecycle",
    Permission.PRICES_MANAGE: "set the clinic's price list",
    Permission.APPOINTMENTS_READ: "read the appointment book",
    Permission.APPOINTMENTS_BOOK: "book, reschedule and cancel appointments",
    Permission.PATIENTS_INVITE: "invite a patient to the portal",
    Permission.SCANS_READ: "read the clinic's scan sessions and images",
    Permission.SCANS_REVIEW: "ask for AI tag suggestions, tag scans, set a session's status",
    Permission.MESSAGES_READ: "read patient message threads",
    Permission.MESSAGES_WRITE: "start threads and write to patients",
    Permission.DASHBOARD_READ: "read the scan dashboard and tagging analytics",
    Permission.PORTAL_USE: "(patients) their own scans, uploads, messages and push subscriptions",
}
YES, NO, ORG = "✓", "", "org admin"


def _cell(role: Role, permission: Permission) -> str:
    if permission in ORGANISATION_ONLY:
        return ORG if allows(role, permission, org_admin=True) else NO
    return YES if allows(role, permission) else NO


def render() -> str:
    list(domains.blueprints())  # importing the registry registers every route
    roles = list(Role)
    lines = [
        "# Roles and permissions",
        "",
        "Generated from `cloud/chalicelib/services/roles.py` and the route table by `make roles-doc`;",
        "do not edit by hand (a test fails when this file differs from the code).",
        "",
        f'Every route needs one permission; a role has it or not. "{ORG}": the role\'s token must also carry',
        "the organisation-admin flag.",
        "",
        "| permission | meaning | " + " | ".join(role.value for role in roles) + " |",
        "| --- | --- | " + " | ".join(":-:" for _ in roles) + " |",
    ]
    for permission in Permission:
        cells = " | ".join(_cell(role, permission) for role in roles)
        lines.append(f"| `{permission.value}` | {MEANING[permission]} | {cells} |")
    lines += ["", "## Routes", "", "| method | path | permission | what it does |", "| --- | --- | --- | --- |"]
    for route in sorted(ROUTES, key=lambda r: (r.path, r.method)):
        needs = f"`{route.permission.value}`" if route.permission is not None else "public"
        lines.append(f"| {route.method} | `{route.path}` | {needs} | {route.summary} |")
    granted = {role.value: len(ROLE_PERMISSIONS[role]) for role in roles}
    lines += ["", "Permissions per role: " + ", ".join(f"{name} {count}" for name, count in granted.items()) + ".", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m chalicelib.roles_doc OUT.md", file=sys.stderr)
        return 2
    Path(args[0]).write_text(render(), encoding="utf-8")
    print(f"wrote {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
