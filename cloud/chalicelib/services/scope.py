"""Scope: the clinic (and, for patient tokens, the patient) a call may touch, plus who is calling and from where.

Every service function and every repository that reads or writes clinic data takes a `Scope`; the keys
are built from `scope.clinic_id`, never from a bare id a caller passes, so isolation holds by
construction. Only two places build one: the request edge (`Scope.of_request`, from a verified token)
and trusted back-end entry points (`Scope.system`, e.g. ingest with the clinic of the S3 key it was
allowed to write, or the operator CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.errors import NotFound
from chalicelib.services.roles import Role
from chalicelib.services.tokens import Principal


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the audit trail (never PHI)."""

    request_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None


_REQUEST, _SYSTEM = object(), object()


@dataclass(frozen=True)
class Scope:
    clinic_id: str
    actor: str  # "user:<id>", "patient:<id>", "system:ingest", "cli"
    role: Role | None
    user_id: str | None
    origin: Origin
    org_id: str | None = None
    org_admin: bool = False
    patient_id: str | None = None  # a patient token: only this patient's records
    session_id: str | None = None
    _built_by: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._built_by not in (_REQUEST, _SYSTEM):
            raise TypeError("a Scope is built by Scope.of_request or Scope.system only")

    @classmethod
    def of_request(cls, principal: Principal, origin: Origin) -> Scope:
        return cls(
            clinic_id=principal.clinic_id,
            actor=f"patient:{principal.patient_id}" if principal.patient_id else f"user:{principal.user_id}",
            role=principal.role,
            user_id=principal.user_id,
            origin=origin,
            org_id=principal.org_id,
            org_admin=principal.org_admin,
            session_id=principal.session_id,
            patient_id=principal.patient_id,
            _built_by=_REQUEST,
        )

    @classmethod
    def system(cls, clinic_id: str, actor: str, *, org_id: str | None = None, org_admin: bool = False) -> Scope:
        return cls(
            clinic_id=clinic_id,
            actor=actor,
            role=None,
            user_id=None,
            origin=Origin(),
            org_id=org_id,
            org_admin=org_admin,
            _built_by=_SYSTEM,
        )

    def in_clinic(self, clinic_id: str) -> Scope:
        """The same caller acting in another clinic of its organisation (organisation admins only:
        cross-clinic search, creating users elsewhere). NotFound otherwise, so nothing leaks."""
        if clinic_id == self.clinic_id:
            return self
        if not self.org_admin:
            raise NotFound("no such clinic", code="not_found", field="clinic_id")
        return Scope(
            clinic_id=clinic_id,
            actor=self.actor,
            role=self.role,
            user_id=self.user_id,
            origin=self.origin,
            org_id=self.org_id,
            org_admin=self.org_admin,
            session_id=self.session_id,
            patient_id=self.patient_id,
            _built_by=self._built_by,
        )

    def patient(self, patient_id: str) -> str:
        """`patient_id` if this scope may reach that patient (a patient token only its own), else NotFound."""
        if self.patient_id is not None and patient_id != self.patient_id:
            raise NotFound("no patient with this id in your clinic", code="not_found")
        return patient_id
