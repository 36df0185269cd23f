"""Who is uploading: the clinic, the agent, and the key prefix every S3 object of theirs goes under."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """Who is uploading, and under which key prefix (empty for the bucket's root)."""

    clinic_id: str
    agent_id: str
    prefix: str = ""
