"""Route registration with authentication, permission check and error mapping, shared by every blueprint."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.api import errors
from chalicelib.errors import BadRequest, Forbidden, InvalidInput, MedflowError, Unauthenticated
from chalicelib.services import tokens
from chalicelib.services.roles import Permission, allows
from chalicelib.settings import get_settings

M = TypeVar("M", bound=BaseModel)
View = Callable[..., Any]
MAX_BODY_BYTES = 64 * 1024
_BEARER = re.compile(r"^Bearer\s+([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Call:
    """What a view gets: the request and, on protected routes, the verified principal."""

    request: Request
    principal: tokens.Principal | None

    @property
    def caller(self) -> tokens.Principal:
        if self.principal is None:  # only public routes lack one, and they do not ask
            raise Unauthenticated("authentication required")
        return self.principal

    def query(self, model: type[M]) -> M:
        try:
            return model.model_validate(dict(self.request.query_params or {}))
        except ValidationError as exc:
            raise errors.invalid_input(exc, "query parameters") from None

    def body(self, model: type[M]) -> M:
        raw = self.request.raw_body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise BadRequest(f"the request body exceeds {MAX_BODY_BYTES} bytes", code="body_too_large")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(
                f"the request body is not valid JSON ({exc.__class__.__name__})", code="invalid_json"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput("the request body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise errors.invalid_input(exc, "request body") from None


def authenticate(request: Request, permission: Permission) -> tokens.Principal:
    header = request.headers.get("authorization") if request.headers else None
    if not header:
        raise Unauthenticated("an 'Authorization: Bearer <token>' header is required", code="missing_token")
    match = _BEARER.match(header)
    if not match:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", code="invalid_token")
    principal = tokens.verify(match.group(1), get_settings())
    if not allows(principal.role, permission):
        raise Forbidden(f"the role {principal.role.value!r} may not {permission.value}")
    return principal


def endpoint(
    bp: Blueprint, path: str, *, permission: Permission | None, methods: tuple[str, ...] = ("GET",)
) -> Callable[[View], View]:
    """Registers `view(call, **path_params)`. `permission=None` makes the route public — say so on purpose."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def route(**path_params: str) -> Any:
            request = bp.current_request
            try:
                principal = None if permission is None else authenticate(request, permission)
                result = view(Call(request, principal), **path_params)
            except MedflowError as exc:
                return errors.error_response(exc)
            if isinstance(result, Response):
                return result
            return Response(body=result, status_code=200, headers={"Cache-Control": "no-store"})

        bp.route(path, methods=list(methods))(route)
        return view

    return register
