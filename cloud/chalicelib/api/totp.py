"""TOTP second factor: POST /auth/totp/enrol, POST /auth/totp/confirm, DELETE /auth/totp (one's own),
POST /users/{user_id}/totp/reset (admin), PUT /clinics/{clinic_id}/security (roles that must use TOTP)."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.clinics import ClinicOut
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import Answer, RequestModel
from chalicelib.errors import InvalidInput
from chalicelib.services import clinics, totp
from chalicelib.services.roles import STAFF_ROLES, Permission, Role

bp = Blueprint(__name__)
ENROLMENT = frozenset({totp.ENROLMENT_SCOPE})  # the enrolment-only token of a login refused for want of TOTP


class Code(RequestModel):
    code: str = Field(min_length=1, max_length=32)  # a current TOTP code (DELETE also takes a recovery code)


class EnrolmentOut(BaseModel):
    otpauth_uri: str  # for an authenticator app (QR code)
    secret: str  # the same secret, base32, for typing in


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]  # shown once; each works once in place of a TOTP code


class Security(RequestModel):
    require_totp_roles: list[Role] = Field(max_length=len(STAFF_ROLES))


@endpoint(bp, "POST", "/auth/totp/enrol", permission=Permission.SELF_MANAGE, response=EnrolmentOut,
          token_scopes=ENROLMENT)  # fmt: skip
def enrol(call: Call) -> EnrolmentOut:
    """Starts TOTP enrolment: a new secret, pending until confirmed with a code."""
    enrolment = totp.enrol(call.scope)
    return EnrolmentOut(otpauth_uri=enrolment.otpauth_uri, secret=enrolment.secret)


@endpoint(bp, "POST", "/auth/totp/confirm", permission=Permission.SELF_MANAGE, body=Code, response=RecoveryCodes,
          token_scopes=ENROLMENT)  # fmt: skip
def confirm(call: Call) -> RecoveryCodes:
    """Enables TOTP with a current code of the pending secret; answers 10 single-use recovery codes."""
    return RecoveryCodes(recovery_codes=totp.confirm(call.scope, call.body.code))


@endpoint(bp, "DELETE", "/auth/totp", permission=Permission.SELF_MANAGE, body=Code, response=Answer)
def disable(call: Call) -> Answer:
    """Disables the caller's TOTP (a current code or a recovery code is required)."""
    totp.disable(call.scope, call.body.code)
    return Answer(status="totp_disabled")


@endpoint(bp, "POST", "/users/{user_id}/totp/reset", permission=Permission.USERS_MANAGE, response=Answer)
def reset(call: Call, user_id: str) -> Answer:
    """Removes a user's TOTP (lost device and recovery codes); the user enrols again."""
    totp.reset(call.scope, user_id)
    return Answer(status="totp_reset")


@endpoint(bp, "PUT", "/clinics/{clinic_id}/security", permission=Permission.CLINICS_UPDATE, body=Security,
          response=ClinicOut)  # fmt: skip
def set_security(call: Call, clinic_id: str) -> ClinicOut:
    """The roles that must use TOTP in this clinic (their login without it answers 403 totp_enrolment_required)."""
    body: Security = call.body
    if Role.PATIENT in body.require_totp_roles:
        raise InvalidInput("only staff roles may be listed", code="invalid_role", field="require_totp_roles")
    return ClinicOut.of(clinics.set_security(call.scope, clinic_id, [role.value for role in body.require_totp_roles]))
