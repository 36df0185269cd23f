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
    QUARANTINE_READ = "quarantine:read"
    AUDIT_READ = "audit:read"
    EVENTS_READ = "events:read"


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

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPHTHALMOLOGIST: _SELF | _CLINICAL | _EVENTS,
    Role.DOCTOR: _SELF | _CLINICAL | _EVENTS,
    Role.NURSE: _SELF | _CLINICAL | _EVENTS,
    Role.OPTICIAN: _SELF | _CLINICAL | _EVENTS,
    Role.LAB_TECHNICIAN: _SELF | _CLINICAL | _EVENTS,
    # The front desk registers and finds patients, but does not read clinical results.
    Role.RECEPTIONIST: _SELF | _FRONT_DESK | _EVENTS,
    Role.SECRETARY: _SELF | {Permission.PATIENTS_READ} | _EVENTS,
    # Dispensing, payments and financials arrive with their domains; until then they find patients.
    Role.PHARMACIST: _SELF | {Permission.PATIENTS_READ} | _EVENTS,
    Role.CASHIER: _SELF | {Permission.PATIENTS_READ} | _EVENTS,
    Role.ACCOUNTANT: _SELF | _EVENTS,
    # Reports and limited admin: reads staff, audit, operations; no clinical records.
    Role.MANAGER: _SELF
    | _EVENTS
    | {Permission.USERS_READ, Permission.AUDIT_READ, Permission.AGENTS_READ, Permission.QUARANTINE_READ},
    # Patient tokens reach only the patient's own data, through patient routes (the portal issue).
    Role.PATIENT: frozenset({Permission.SESSION_END}),
}

# Permissions that need more than the role: the caller must also be an organisation admin.
ORGANISATION_ONLY = frozenset({Permission.CLINICS_CREATE})


def allows(role: Role, permission: Permission, *, org_admin: bool = False) -> bool:
    if permission in ORGANISATION_ONLY and not org_admin:
        return False
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
