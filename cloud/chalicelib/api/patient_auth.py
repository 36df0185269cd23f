"""Patients get in (seed 000 §1): POST /patients/{patient_id}/invite (staff), then the public
GET /patient-auth/validate-invite/{token}, POST /patient-auth/register, /login, /refresh, and /logout.
The refresh token travels only in the `patient_refresh` cookie (HttpOnly, Secure, SameSite=Strict, path
/patient-auth), never in a body. See docs/portal.md."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel, Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import Answer, RequestModel
from chalicelib.errors import InvalidInput
from chalicelib.services import patient_auth
from chalicelib.services.patient_auth import Invitation, InviteCheck, PatientTokens, PortalPatient
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

COOKIE = "patient_refresh"
COOKIE_PATH = "/patient-auth"
Email = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", examples=["amani@example.test"])
Token = Field(min_length=1, max_length=128, examples=["0" * 64])


class InviteRequest(RequestModel):
    email: str = Email


class RegisterRequest(RequestModel):
    token: str = Token
    email: str = Email
    password: str = Field(min_length=1, max_length=1024, examples=["a long pass phrase 42"])


class PatientLogin(RequestModel):
    email: str = Email
    password: str = Field(min_length=1, max_length=1024)
    clinic_id: str | None = Field(default=None, min_length=1, max_length=64)  # when the email has several clinics


class PatientSession(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_in: int


class Registered(PatientSession):
    patient: PortalPatient


@endpoint(bp, "POST", "/patients/{patient_id}/invite", permission=Permission.PATIENTS_INVITE, body=InviteRequest,
          response=Invitation, status=201)  # fmt: skip
def invite(call: Call, patient_id: str) -> Invitation:
    """Invites a patient of the clinic to the portal: a single-use link valid 7 days (the older one is revoked)."""
    return patient_auth.invite(call.scope, params.patient_id(patient_id), call.body.email)


@endpoint(bp, "GET", "/patient-auth/validate-invite/{token}", permission=None, response=InviteCheck)
def validate_invite(call: Call, token: str) -> InviteCheck:
    """Whether an invite can be used (and for whom); rate-limited per address."""
    return patient_auth.validate(token[:128], call.origin)


@endpoint(bp, "POST", "/patient-auth/register", permission=None, body=RegisterRequest, response=Registered,
          status=201)  # fmt: skip
def register(call: Call) -> Response:
    """Opens the patient's account with the invite (once): an access token, the refresh cookie."""
    body: RegisterRequest = call.body
    issued = patient_auth.register(body.token, body.email, body.password, call.origin)
    assert issued.patient is not None
    answer = Registered(access_token=issued.access.token, expires_in=issued.access.expires_in, patient=issued.patient)
    return _with_cookie(answer, issued, 201)


@endpoint(bp, "POST", "/patient-auth/login", permission=None, body=PatientLogin, response=PatientSession)
def login(call: Call) -> Response:
    """Email and password → an access token (1 hour) and the refresh cookie (30 days)."""
    body: PatientLogin = call.body
    issued = patient_auth.login(body.email, body.password, call.origin, clinic_id=body.clinic_id)
    return _with_cookie(PatientSession(access_token=issued.access.token, expires_in=issued.access.expires_in), issued)


@endpoint(bp, "POST", "/patient-auth/refresh", permission=None, response=PatientSession)
def refresh(call: Call) -> Response:
    """The refresh cookie is spent and replaced (a reused one ends the session)."""
    issued = patient_auth.refresh(_cookie(call))
    return _with_cookie(PatientSession(access_token=issued.access.token, expires_in=issued.access.expires_in), issued)


@endpoint(bp, "POST", "/patient-auth/logout", permission=Permission.PORTAL_USE, response=Answer)
def logout(call: Call) -> Response:
    """Ends the patient's session (its refresh cookie and access tokens stop working) and clears the cookie."""
    ended = patient_auth.logout(call.caller)
    body = Answer(status="logged_out" if ended else "already_ended").model_dump(mode="json")
    cookie = f"{COOKIE}=; Max-Age=0; Path={COOKIE_PATH}; HttpOnly; Secure; SameSite=Strict"
    return Response(body=body, status_code=200, headers={"Cache-Control": "no-store", "Set-Cookie": cookie})


def _cookie(call: Call) -> str:
    headers: Any = call.request.headers or {}
    raw = str(headers.get("cookie") or "")
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        jar = SimpleCookie()
    morsel = jar.get(COOKIE)
    if morsel is None or not morsel.value:
        raise InvalidInput(f"the {COOKIE} cookie is required", code="missing_refresh_cookie", field=COOKIE)
    return morsel.value[:256]


def _with_cookie(answer: BaseModel, issued: PatientTokens, status: int = 200) -> Response:
    cookie = (
        f"{COOKIE}={issued.refresh_token}; Max-Age={issued.refresh_expires_in}; Path={COOKIE_PATH}; "
        "HttpOnly; Secure; SameSite=Strict"
    )
    return Response(
        body=answer.model_dump(mode="json"),
        status_code=status,
        headers={"Cache-Control": "no-store", "Set-Cookie": cookie},
    )
