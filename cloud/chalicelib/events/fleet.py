"""The scheduled `fleet` Lambda: evaluates every agent's silence (services/fleet.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.services import fleet

logger = Logger(service="medflow-fleet")


def handler(event: Any = None) -> dict[str, int]:
    counts = fleet.evaluate()
    logger.info("fleet evaluated", extra=counts)  # counts only: no ids, no PHI
    return counts
