"""Retry delays for uploads: exponential backoff with full jitter and a cap (the AWS architecture blog's recipe)."""

from __future__ import annotations

import random
from collections.abc import Callable


def ceiling(attempt: int, base: float, cap: float) -> float:
    """The largest delay allowed after `attempt` failures (1-based): base·2^(attempt-1), at most cap."""
    if attempt < 1:
        return 0.0
    # Bound the exponent first: 2**10000 as a float overflows.
    return min(cap, base * 2 ** min(attempt - 1, 62))


def full_jitter(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """A delay drawn uniformly from [0, ceiling): many agents retrying after an outage spread out."""
    return ceiling(attempt, base, cap) * rand()
