"""The signed-in staff member's own account: POST /auth/change-password, POST /auth/switch-clinic."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.auth import TokenResponse
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import Answer, RequestModel
from chalicelib.services import sessions, users
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class PasswordChange(RequestModel):
    old_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class ClinicSwitch(RequestModel):
    clinic_id: str = Field(min_length=1, max_length=64)


@endpoint(bp, "POST", "/auth/change-password", permission=Permission.SELF_MANAGE, body=PasswordChange,
          response=Answer)  # fmt: skip
def change_password(call: Call) -> Answer:
    """Changes the caller's own password (the current one is required; the password policy applies)."""
    body: PasswordChange = call.body
    users.change_password(call.scope, body.old_password, body.new_password)
    return Answer(status="password_changed")


@endpoint(bp, "POST", "/auth/switch-clinic", permission=Permission.SELF_MANAGE, body=ClinicSwitch,
          response=TokenResponse)  # fmt: skip
def switch_clinic(call: Call) -> TokenResponse:
    """New tokens of the same session for another clinic the caller belongs to (the old refresh token is spent)."""
    return TokenResponse.model_validate(sessions.switch_clinic(call.caller, call.body.clinic_id).body())
