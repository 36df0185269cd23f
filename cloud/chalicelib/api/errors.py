"""The one place errors become HTTP responses, all of one shape: `{"code": ..., "message": ..., "field"?: ...}`.

Domain errors map by kind; the framework's own answers (405, 415, 500, which Chalice writes as
`{"Code", "Message"}`) are rewritten into the same shape by `framework_errors`, an HTTP middleware.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from chalice import Response
from pydantic import BaseModel, ValidationError

from chalicelib.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    Locked,
    MedflowError,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
    Upstream,
)

STATUS: dict[type[MedflowError], int] = {
    BadRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    Locked: 423,
    TooManyAttempts: 429,
    Upstream: 502,
    Unavailable: 503,
}


class ErrorBody(BaseModel):
    """Every error the API returns."""

    code: str
    message: str
    field: str | None = None
    existing_id: str | None = None  # 409 duplicate_patient: the patient it would duplicate


def status_of(exc: MedflowError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def body_of(code: str, message: str, field: str | None = None) -> dict[str, str]:
    body = {"code": code, "message": message}
    if field:
        body["field"] = field
    return body


def error_response(exc: MedflowError) -> Response:
    status = status_of(exc)
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="medflow"'
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body: dict[str, str] = body_of(exc.code, exc.message, exc.field)
    if getattr(exc, "existing_id", None):  # errors.Duplicate: the record it would duplicate
        body["existing_id"] = exc.existing_id  # type: ignore[attr-defined]
    return Response(body=body, status_code=status, headers=headers)


def invalid_input(exc: ValidationError, what: str) -> InvalidInput:
    """A precise message naming each bad field, without echoing values (they may be passwords or PHI)."""
    problems, first = [], None
    for error in exc.errors(include_input=False, include_url=False)[:10]:
        field = ".".join(str(part) for part in error["loc"])
        first = first or field or None
        problems.append(f"{field or what}: {error['msg']}")
    return InvalidInput(f"invalid {what}: " + "; ".join(problems), code="invalid_request", field=first)


_FRAMEWORK_CODES = {405: "method_not_allowed", 415: "unsupported_media_type", 400: "bad_request"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def framework_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice middleware: the framework's `{"Code", "Message"}` errors in the API's one shape."""
    response = get_response(event)
    body = response.body
    if isinstance(body, (str, bytes)) and response.status_code >= 400:
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    if isinstance(body, dict) and "Code" in body and "code" not in body:
        status = response.status_code
        if status >= 500:
            code, message = "internal_error", "the server could not complete the request; nothing was changed"
        else:
            code = _FRAMEWORK_CODES.get(status) or _snake(str(body["Code"]).removesuffix("Error"))
            message = str(body.get("Message", ""))
        response.body = body_of(code, message)
        response.headers = {**response.headers, "Content-Type": "application/json"}
    return response
