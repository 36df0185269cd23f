"""Staff authentication: POST /auth/login (email + password → access + refresh token), /auth/refresh, /auth/logout."""

from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import BaseModel, Field

from chalicelib.api import errors
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import Answer, RequestModel
from chalicelib.services import auth, sessions, totp
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class LoginRequest(RequestModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    clinic_id: str | None = Field(default=None, min_length=1, max_length=64)  # needed when the account has several
    totp: str | None = Field(default=None, min_length=1, max_length=32)  # a TOTP code or a recovery code


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


@endpoint(bp, "POST", "/auth/login", permission=None, body=LoginRequest, response=TokenResponse)
def login(call: Call) -> TokenResponse | Response:
    """Email and password → an access token and a refresh token (a new session)."""
    body: LoginRequest = call.body
    try:
        tokens = auth.login(body.email, body.password, clinic_id=body.clinic_id, origin=call.origin, totp=body.totp)
    except totp.EnrolmentRequired as exc:
        return enrolment_required(exc)
    return TokenResponse.model_validate(tokens.body())


def enrolment_required(exc: totp.EnrolmentRequired) -> Response:
    """403 `totp_enrolment_required` with a short-lived token that only /auth/totp/enrol and /confirm accept."""
    response = errors.error_response(exc)
    body = {**response.body, "enrolment_token": exc.token.token, "token_type": "Bearer",
            "expires_in": exc.token.expires_in, "scope": totp.ENROLMENT_SCOPE}  # fmt: skip
    return Response(body=body, status_code=response.status_code, headers=response.headers)


@endpoint(bp, "POST", "/auth/refresh", permission=None, body=RefreshRequest, response=TokenResponse)
def refresh(call: Call) -> TokenResponse:
    """The refresh token is the credential here (no Bearer header): it is spent and replaced."""
    body: RefreshRequest = call.body
    return TokenResponse.model_validate(sessions.refresh(body.refresh_token).body())


@endpoint(bp, "POST", "/auth/logout", permission=Permission.SESSION_END, response=Answer)
def logout(call: Call) -> Answer:
    """Ends the caller's session: its refresh and access tokens stop working at once."""
    ended = sessions.end(call.caller)
    return Answer(status="logged_out" if ended else "already_ended")
