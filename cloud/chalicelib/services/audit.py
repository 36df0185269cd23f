"""Builds audit events; callers hand them to the repository with the write they describe."""

from __future__ import annotations

import hashlib
from datetime import datetime

from chalicelib.models import AuditEvent

SYSTEM_INGEST = "system:ingest"


def event(
    action: str,
    *,
    clinic_id: str | None,
    actor: str,
    at: datetime,
    outcome: str = "success",
    **target: str,
) -> AuditEvent:
    return AuditEvent(clinic_id=clinic_id, actor=actor, action=action, outcome=outcome, target=target, at=at)


def user_actor(user_id: str) -> str:
    return f"user:{user_id}"


def email_fingerprint(email: str) -> str:
    """Correlates repeated attempts on one email without storing the address."""
    return hashlib.sha256(email.encode()).hexdigest()[:16]
