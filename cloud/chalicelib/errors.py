"""One exception base for the cloud code; the API maps each kind to an HTTP status in `api/errors.py`."""

from __future__ import annotations


class MedflowError(Exception):
    """A domain error with a stable machine code and a precise, PHI-free message."""

    code = "error"

    def __init__(self, message: str, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the request field at fault, when one is
        if code:
            self.code = code


class BadRequest(MedflowError):
    """The request cannot be read at all (e.g. the body is not JSON)."""

    code = "bad_request"


class InvalidInput(MedflowError):
    """The request was read but its content breaks the contract (missing field, bad query parameter)."""

    code = "invalid_request"


class Unauthenticated(MedflowError):
    """No valid credentials: missing, malformed or expired token, or wrong email/password."""

    code = "unauthenticated"


class Forbidden(MedflowError):
    """Authenticated, but the role lacks the permission."""

    code = "forbidden"


class TooManyAttempts(MedflowError):
    """Too many attempts in a window (login): refused until `retry_after` seconds have passed."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


class Locked(MedflowError):
    """The account is locked for a while (too many wrong passwords): refused until `retry_after` seconds."""

    code = "account_locked"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


class Unavailable(MedflowError):
    """A feature or dependency cannot serve now (not configured, or down)."""

    code = "unavailable"


class Upstream(MedflowError):
    """An external service failed or timed out; nothing was changed."""

    code = "upstream_error"


class NotFound(MedflowError):
    code = "not_found"


class Conflict(MedflowError):
    code = "conflict"


class Duplicate(Conflict):
    """The record would duplicate an existing one (409 naming `existing_id`)."""

    code = "duplicate_patient"

    def __init__(self, message: str, *, existing_id: str, code: str | None = None) -> None:
        super().__init__(message, code)
        self.existing_id = existing_id


class RejectedMessage(MedflowError):
    """An ingest message that can never succeed (bad JSON, invalid envelope, clinic mismatch).

    Its SQS message is retried and ends in the DLQ."""

    code = "rejected_message"
