"""Route registration shared by every blueprint: authentication, the route's one permission, the caller's scope,
request parsing, denial audit and the error mapping — and the route table that OpenAPI and the
authorization-matrix test read.

    @endpoint(bp, "POST", "/patients", permission=Permission.PATIENTS_REGISTER, body=NewPatient,
              response=Patient, status=201)
    def register(call: Call) -> Patient:
        return patients.register(call.scope, call.body)

A public route says `permission=None` on purpose.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.api import errors
from chalicelib.errors import BadRequest, Forbidden, InvalidInput, MedflowError, Unauthenticated
from chalicelib.services import audit, sessions, tokens
from chalicelib.services.roles import Permission, allows
from chalicelib.services.scope import Origin, Scope
from chalicelib.settings import get_settings

View = Callable[..., Any]
MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
_BEARER = re.compile(r"^Bearer\s+([A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class RouteSpec:
    """One route as declared: what OpenAPI documents and the authorization matrix exercises."""

    method: str
    path: str
    permission: Permission | None
    view: str
    domain: str
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    path_params: tuple[str, ...] = field(default=())
    token_scopes: frozenset[str] = frozenset()
    body_required: bool = True


ROUTES: list[RouteSpec] = []


@dataclass(frozen=True)
class Call:
    """What a view gets: the request, the parsed body and query, and on protected routes the scope."""

    request: Request
    principal: tokens.Principal | None
    origin: Origin
    body: Any = None
    query: Any = None

    @property
    def caller(self) -> tokens.Principal:
        if self.principal is None:  # only public routes lack one, and they do not ask
            raise Unauthenticated("authentication required")
        return self.principal

    @property
    def scope(self) -> Scope:
        return Scope.of_request(self.caller, self.origin)


def origin_of(request: Request) -> Origin:
    context: dict[str, Any] = request.context or {}
    identity: dict[str, Any] = context.get("identity") or {}
    headers: Any = request.headers or {}
    agent = headers.get("user-agent")
    return Origin(
        request_id=context.get("requestId"),
        source_ip=identity.get("sourceIp"),
        user_agent=agent[:256] if agent else None,
    )


def parse_json(raw: bytes) -> Any:
    """The body as JSON: bounded in size and nesting depth (deep nesting is a 400, never a crash)."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body exceeds {MAX_BODY_BYTES} bytes", code="body_too_large")
    if _depth_exceeds(raw, MAX_JSON_DEPTH):
        raise BadRequest(f"the request body nests deeper than {MAX_JSON_DEPTH} levels", code="invalid_json")
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(
            f"the request body is not valid JSON ({exc.__class__.__name__})", code="invalid_json"
        ) from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_exceeds(raw: bytes, limit: int) -> bool:
    """True when brackets outside strings nest deeper than `limit` (a cheap pass before json.loads)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _parse_body(request: Request, model: type[BaseModel], *, required: bool = True) -> BaseModel | None:
    raw = request.raw_body or b""
    if not raw and not required:
        return None
    data = parse_json(raw.encode() if isinstance(raw, str) else raw)
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object", code="invalid_request")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.invalid_input(exc, "request body") from None


def _parse_query(request: Request, model: type[BaseModel] | None) -> BaseModel | None:
    params = dict(request.query_params or {})
    if model is None:
        if params:
            name = sorted(params)[0]
            raise InvalidInput(f"unknown query parameter {name!r}", code="invalid_request", field=name)
        return None
    known = {name for name, info in model.model_fields.items()} | {
        info.alias for info in model.model_fields.values() if info.alias
    }
    unknown = sorted(set(params) - known)
    if unknown and model.model_config.get("extra") == "forbid":
        # Named before any other problem: a typo ("limt") is the likeliest cause of what follows.
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", code="invalid_request", field=unknown[0])
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise errors.invalid_input(exc, "query parameters") from None


def authenticate(
    request: Request, permission: Permission, origin: Origin, token_scopes: frozenset[str] = frozenset()
) -> tokens.Principal:
    now = datetime.now(UTC)
    try:
        header = request.headers.get("authorization") if request.headers else None
        if not header:
            raise Unauthenticated("an 'Authorization: Bearer <token>' header is required", code="missing_token")
        match = _BEARER.match(header)
        if not match:
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'", code="invalid_token")
        principal = tokens.verify(match.group(1), get_settings(), scopes=token_scopes)
    except Unauthenticated as exc:
        audit.denied("access.denied", clinic_id=None, actor="anonymous", role=None, origin=origin,
                     reason=exc.code, at=now)  # fmt: skip
        raise
    try:
        sessions.check_live(principal, now=now)
        if not allows(principal.role, permission, org_admin=principal.org_admin):
            raise Forbidden(f"the role {principal.role.value!r} may not {permission.value}")
    except (Unauthenticated, Forbidden) as exc:
        audit.denied(
            "access.denied", clinic_id=principal.clinic_id, actor=audit.user_actor(principal.user_id),
            role=principal.role.value, origin=origin, reason=f"{exc.code}:{permission.value}", at=now,
        )  # fmt: skip
        raise
    return principal


def endpoint(
    bp: Blueprint,
    method: str,
    path: str,
    *,
    permission: Permission | None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    token_scopes: frozenset[str] = frozenset(),
    body_required: bool = True,
) -> Callable[[View], View]:
    """Registers `view(call, **path_params)` and records the route in `ROUTES`. `token_scopes`: restricted
    tokens the route accepts besides full access tokens (e.g. TOTP enrolment). `body_required=False`: an empty
    body is `call.body = None` (a DELETE that may name its target in the body or the query)."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def route(**path_params: str) -> Any:
            request = bp.current_request
            origin = origin_of(request)
            try:
                principal = None if permission is None else authenticate(request, permission, origin, token_scopes)
                parsed_query = _parse_query(request, query)
                parsed_body = _parse_body(request, body, required=body_required) if body is not None else None
                call = Call(request, principal, origin, parsed_body, parsed_query)
                result = view(call, **path_params)
            except MedflowError as exc:
                return errors.error_response(exc)
            if isinstance(result, Response):
                return result
            if isinstance(result, BaseModel):
                result = result.model_dump(mode="json")
            return Response(body=result, status_code=status, headers={"Cache-Control": "no-store"})

        bp.route(path, methods=[method])(route)
        ROUTES.append(
            RouteSpec(
                method=method,
                path=path,
                permission=permission,
                view=view.__name__,
                domain=view.__module__.rsplit(".", 1)[-1],
                summary=(view.__doc__ or view.__name__).strip().splitlines()[0],
                body=body,
                query=query,
                response=response,
                status=status,
                path_params=tuple(re.findall(r"{(\w+)}", path)),
                token_scopes=token_scopes,
                body_required=body_required,
            )
        )
        return view

    return register
