"""The one place domain errors become HTTP responses: 4xx with `{"error": code, "message": text}`."""

from __future__ import annotations

from chalice import Response
from pydantic import ValidationError

from chalicelib.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    MedflowError,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
)

STATUS: dict[type[MedflowError], int] = {
    BadRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    TooManyAttempts: 429,
}


def status_of(exc: MedflowError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def error_response(exc: MedflowError) -> Response:
    status = status_of(exc)
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="medflow"'
    if isinstance(exc, TooManyAttempts):
        headers["Retry-After"] = str(exc.retry_after)
    return Response(body={"error": exc.code, "message": exc.message}, status_code=status, headers=headers)


def invalid_input(exc: ValidationError, what: str) -> InvalidInput:
    """A precise message naming each bad field, without echoing values (they may be passwords or PHI)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False)[:10]:
        field = ".".join(str(part) for part in error["loc"]) or what
        problems.append(f"{field}: {error['msg']}")
    return InvalidInput(f"invalid {what}: " + "; ".join(problems))
