"""Roles and permissions as data (ARCHITECTURE §5): one table says which role may do what.

Every route declares exactly one `Permission`; `ROLE_PERMISSIONS` is the whole policy. `docs/roles.md`
is generated from this module (`make roles-doc`) and a test keeps it current; the authorization-matrix
test reads the same table to decide what each role must be allowed and refused.
Who does what follows seed 001's outpatient journey: the receptionist registers, the nurse triages, the
doctor / clinical officer consults, the lab technician enters results, the pharmacist dispenses, the
cashier takes payments, the accountant reads financials, the manager reads reports, the admin does
everything in its clinic.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPHTHALMOLOGIST = "ophthalmologist"
    DOCTOR = "doctor"
    NURSE = "nurse"
    RECEPTIONIST = "receptionist"
    PHARMACIST = "pharmacist"
    LAB_TECHNICIAN = "lab_technician"
    OPTICIAN = "optician"
    ACCOUNTANT = "accountant"
    CASHIER = "cashier"
    SECRETARY = "secretary"
    MANAGER = "manager"
    PATIENT = "patient"


STAFF_ROLES = tuple(role for role in Role if role is not Role.PATIENT)


class Permission(StrEnum):
    # Every signed-in staff member, about themselves.
    SESSION_END = "session:end"  # log out
    SELF_MANAGE = "self:manage"  # own password, own TOTP, switch clinic
    # Clinics and staff.
    CLINICS_CREATE = "clinics:create"  # organisation admins only (checked against the token's org flag too)
    CLINICS_READ = "clinics:read"
    CLINICS_UPDATE = "clinics:update"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"  # create, change role, deactivate, reset password, unlock, end sessions
    # Patients (PHI).
    PATIENTS_REGISTER = "patients:register"
    PATIENTS_READ = "patients:read"
    PATIENTS_UPDATE = "patients:update"
    READINGS_READ = "readings:read"  # a patient's device readings
    UNMATCHED_READ = "unmatched:read"  # envelopes awaiting a patient match
    UNMATCHED_ASSIGN = "unmatched:assign"  # attach them to a patient (or undo it the same day)
    # Operations (no PHI).
    AGENTS_READ = "agents:read"
    AGENTS_CONFIGURE = "agents:configure"  # read and publish an edge agent's remote configuration
    QUARANTINE_READ = "quarantine:read"
    AUDIT_READ = "audit:read"
    EVENTS_READ = "events:read"
    # The outpatient journey (seed 001).
    VISITS_OPEN = "visits:open"  # open a visit for a registered patient
    VISITS_READ = "visits:read"  # the clinic's queue and a visit's record
    VISITS_UPDATE = "visits:update"  # move a visit through its statuses, discharge it
    ENCOUNTERS_TRIAGE = "encounters:triage"  # record a TRIAGE encounter (vital signs)
    ENCOUNTERS_CONSULT = "encounters:consult"  # record a CONSULTATION encounter, diagnoses
    ENCOUNTERS_READ = "encounters:read"  # a patient's encounters and diagnoses
    ALLERGIES_READ = "allergies:read"
    ALLERGIES_WRITE = "allergies:write"
    PRESCRIPTIONS_WRITE = "prescriptions:write"  # prescribe (and override an allergy block with a reason)
    PRESCRIPTIONS_READ = "prescriptions:read"
    PRESCRIPTIONS_DISPENSE = "prescriptions:dispense"
    LAB_ORDER = "lab:order"  # request lab tests
    LAB_READ = "lab:read"  # lab requests and their results
    LAB_RESULTS = "lab:results"  # enter results by hand
    PROGRAMS_READ = "programs:read"  # immunization, family planning, maternal and child health
    PROGRAMS_WRITE = "programs:write"
    PAYMENTS_TAKE = "payments:take"  # payments and refunds
    BILLING_READ = "billing:read"  # bills, payments, SHA invoices (financials)
    INVOICES_MANAGE = "invoices:manage"  # SHA invoices and their lifecycle
    PRICES_MANAGE = "prices:manage"  # the clinic's price list
    APPOINTMENTS_READ = "appointments:read"
    APPOINTMENTS_BOOK = "appointments:book"  # book, reschedule, cancel
    # The patient portal and remote scan review (seed 000).
    PATIENTS_INVITE = "patients:invite"  # invite a patient to the portal
    SCANS_READ = "scans:read"  # the clinic's scan sessions and images
    SCANS_REVIEW = "scans:review"  # AI suggestions, tags, session status
    MESSAGES_READ = "messages:read"  # staff side of patient messaging
    MESSAGES_WRITE = "messages:write"
    DASHBOARD_READ = "dashboard:read"  # scan dashboard and tagging analytics
    # What a patient token may do, on patient routes only, always on the patient's own records.
    PORTAL_USE = "portal:use"  # own scans, uploads, messages, push subscriptions


_SELF = frozenset({Permission.SESSION_END, Permission.SELF_MANAGE})
_FRONT_DESK = frozenset({Permission.PATIENTS_REGISTER, Permission.PATIENTS_READ, Permission.PATIENTS_UPDATE})
_CLINICAL = _FRONT_DESK | {
    Permission.READINGS_READ,
    Permission.UNMATCHED_READ,
    Permission.UNMATCHED_ASSIGN,
    Permission.AGENTS_READ,
    Permission.QUARANTINE_READ,
}
_EVENTS = frozenset({Permission.EVENTS_READ, Permission.CLINICS_READ})
# Reading the journey's record: the visit, its encounters, allergies, prescriptions, lab results, programmes.
_CHART = frozenset(
    {
        Permission.VISITS_READ,
        Permission.ENCOUNTERS_READ,
        Permission.ALLERGIES_READ,
        Permission.PRESCRIPTIONS_READ,
        Permission.LAB_READ,
        Permission.PROGRAMS_READ,
        Permission.APPOINTMENTS_READ,
    }
)
_VISIT_FLOW = frozenset({Permission.VISITS_OPEN, Permission.VISITS_UPDATE, Permission.APPOINTMENTS_BOOK})
# The doctor / clinical officer: consults, diagnoses, prescribes, orders labs; and the portal's reviewer.
_PRESCRIBER = (
    _CHART
    | _VISIT_FLOW
    | {
        Permission.ENCOUNTERS_TRIAGE,
        Permission.ENCOUNTERS_CONSULT,
        Permission.ALLERGIES_WRITE,
        Permission.PRESCRIPTIONS_WRITE,
        Permission.LAB_ORDER,
        Permission.PROGRAMS_WRITE,
        Permission.PATIENTS_INVITE,
        Permission.SCANS_READ,
        Permission.SCANS_REVIEW,
        Permission.MESSAGES_READ,
        Permission.MESSAGES_WRITE,
        Permission.DASHBOARD_READ,
    }
)
_FINANCE_READ = frozenset({Permission.BILLING_READ, Permission.VISITS_READ})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission) - {Permission.PORTAL_USE},
    Role.OPHTHALMOLOGIST: _SELF | _CLINICAL | _EVENTS | _PRESCRIBER,
    Role.DOCTOR: _SELF | _CLINICAL | _EVENTS | _PRESCRIBER,
    # The nurse triages (vital signs), records allergies and the immunization / FP / MCH programmes.
    Role.NURSE: _SELF
    | _CLINICAL
    | _EVENTS
    | _CHART
    | _VISIT_FLOW
    | {
        Permission.ENCOUNTERS_TRIAGE,
        Permission.ALLERGIES_WRITE,
        Permission.PROGRAMS_WRITE,
        Permission.SCANS_READ,
        Permission.MESSAGES_READ,
        Permission.MESSAGES_WRITE,
    },
    Role.OPTICIAN: _SELF | _CLINICAL | _EVENTS | {Permission.VISITS_READ, Permission.ENCOUNTERS_READ},
    # The lab technician reads lab requests and enters results.
    Role.LAB_TECHNICIAN: _SELF
    | _CLINICAL
    | _EVENTS
    | {Permission.VISITS_READ, Permission.LAB_READ, Permission.LAB_RESULTS, Permission.ALLERGIES_READ},
    # The front desk registers and finds patients, opens visits and books appointments, sees the bill;
    # it does not read clinical results.
    Role.RECEPTIONIST: _SELF
    | _FRONT_DESK
    | _EVENTS
    | _VISIT_FLOW
    | {Permission.VISITS_READ, Permission.APPOINTMENTS_READ, Permission.BILLING_READ},
    Role.SECRETARY: _SELF
    | {Permission.PATIENTS_READ, Permission.VISITS_READ, Permission.APPOINTMENTS_READ, Permission.APPOINTMENTS_BOOK}
    | _EVENTS,
    # The pharmacist reads prescriptions and allergies and dispenses.
    Role.PHARMACIST: _SELF
    | {Permission.PATIENTS_READ}
    | _EVENTS
    | {
        Permission.VISITS_READ,
        Permission.PRESCRIPTIONS_READ,
        Permission.PRESCRIPTIONS_DISPENSE,
        Permission.ALLERGIES_READ,
    },
    # The cashier takes payments and moves a paid visit on.
    Role.CASHIER: _SELF
    | {Permission.PATIENTS_READ}
    | _EVENTS
    | _FINANCE_READ
    | {Permission.PAYMENTS_TAKE, Permission.VISITS_UPDATE},
    # The accountant reads financials and manages SHA invoices and prices.
    Role.ACCOUNTANT: _SELF | _EVENTS | _FINANCE_READ | {Permission.INVOICES_MANAGE, Permission.PRICES_MANAGE},
    # Reports and limited admin: reads staff, audit, operations, financials and the scan dashboard;
    # no clinical records.
    Role.MANAGER: _SELF
    | _EVENTS
    | _FINANCE_READ
    | {
        Permission.USERS_READ,
        Permission.AUDIT_READ,
        Permission.AGENTS_READ,
        Permission.AGENTS_CONFIGURE,
        Permission.QUARANTINE_READ,
        Permission.DASHBOARD_READ,
        Permission.APPOINTMENTS_READ,
    },
    # Patient tokens reach only the patient's own data, through patient routes (the portal issue).
    Role.PATIENT: frozenset({Permission.SESSION_END, Permission.PORTAL_USE}),
}

# Permissions that need more than the role: the caller must also be an organisation admin.
ORGANISATION_ONLY = frozenset({Permission.CLINICS_CREATE})


def allows(role: Role, permission: Permission, *, org_admin: bool = False) -> bool:
    if permission in ORGANISATION_ONLY and not org_admin:
        return False
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
