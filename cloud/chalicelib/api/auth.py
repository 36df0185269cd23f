"""Staff authentication: POST /auth/login (email + password → access + refresh token), /auth/refresh, /auth/logout."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.services import auth, sessions
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    refresh_token: str = Field(min_length=1, max_length=256)


@endpoint(bp, "/auth/login", permission=None, methods=("POST",))
def login(call: Call) -> dict[str, Any]:
    body = call.body(LoginRequest)
    return auth.login(
        body.email, body.password, source_ip=call.request.context.get("identity", {}).get("sourceIp")
    ).body()


@endpoint(bp, "/auth/refresh", permission=None, methods=("POST",))
def refresh(call: Call) -> dict[str, Any]:
    """The refresh token is the credential here (no Bearer header): it is spent and replaced."""
    body = call.body(RefreshRequest)
    return sessions.refresh(body.refresh_token).body()


@endpoint(bp, "/auth/logout", permission=Permission.SESSION_END, methods=("POST",))
def logout(call: Call) -> dict[str, Any]:
    ended = sessions.end(call.caller)
    return {"status": "logged_out" if ended else "already_ended"}
