"""Staff authentication: POST /auth/login (email + password → short-lived Bearer token)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.services import auth

bp = Blueprint(__name__)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


@endpoint(bp, "/auth/login", permission=None, methods=("POST",))
def login(call: Call) -> dict[str, Any]:
    body = call.body(LoginRequest)
    token = auth.login(body.email, body.password)
    return {"access_token": token.token, "token_type": "Bearer", "expires_in": token.expires_in}
