"""Roles and permissions as data (ARCHITECTURE §5): one table says which role may do what."""

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


class Permission(StrEnum):
    READINGS_READ = "readings:read"  # a patient's device readings (PHI)
    UNMATCHED_READ = "unmatched:read"  # envelopes awaiting a patient match (PHI)
    AGENTS_READ = "agents:read"  # edge agent liveness and counters (no PHI)
    QUARANTINE_READ = "quarantine:read"  # rejected inputs and their reasons
    PATIENTS_READ = "patients:read"  # a patient's demographics (PHI)
    USERS_MANAGE = "users:manage"
    SESSION_END = "session:end"  # end one's own session (log out): every role


_CLINICAL = frozenset(
    {
        Permission.READINGS_READ,
        Permission.UNMATCHED_READ,
        Permission.AGENTS_READ,
        Permission.QUARANTINE_READ,
        Permission.PATIENTS_READ,
    }
)
_OPERATIONS = frozenset({Permission.AGENTS_READ, Permission.QUARANTINE_READ})

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPHTHALMOLOGIST: _CLINICAL,
    Role.DOCTOR: _CLINICAL,
    Role.NURSE: _CLINICAL,
    Role.OPTICIAN: _CLINICAL,
    Role.LAB_TECHNICIAN: _CLINICAL,
    Role.MANAGER: _OPERATIONS,
    # The front desk registers and looks up patients, but does not read clinical results.
    Role.RECEPTIONIST: frozenset({Permission.PATIENTS_READ}),
    Role.PHARMACIST: frozenset(),
    Role.ACCOUNTANT: frozenset(),
    Role.CASHIER: frozenset(),
    Role.SECRETARY: frozenset(),
    # Patient tokens reach only the patient's own data, through patient endpoints (a later issue).
    Role.PATIENT: frozenset(),
}


_EVERY_ROLE = frozenset({Permission.SESSION_END})


def allows(role: Role, permission: Permission) -> bool:
    return permission in _EVERY_ROLE or permission in ROLE_PERMISSIONS.get(role, frozenset())
