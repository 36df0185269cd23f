"""The edge agent's one exception base and its subclasses."""

from __future__ import annotations

from shared_models import QuarantineReason


class EdgeAgentError(Exception):
    """Base of every error the edge agent raises on purpose."""


class ConfigError(EdgeAgentError):
    """The configuration file is missing, unreadable or invalid; the message names the key."""


class ParseError(EdgeAgentError):
    """An adapter cannot turn the input into readings; `reason` is a fixed quarantine code."""

    def __init__(self, reason: QuarantineReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
