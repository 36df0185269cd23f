"""Backoff: exponential ceiling with a cap, full jitter below it."""

from __future__ import annotations

import random

from edge_agent.spool.backoff import ceiling, full_jitter


def test_ceiling_doubles_then_caps() -> None:
    assert [ceiling(n, 1.0, 30.0) for n in range(0, 8)] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert ceiling(10_000, 1.0, 300.0) == 300.0  # no overflow after very many failures


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert full_jitter(4, 1.0, 30.0, rand=lambda: 0.0) == 0.0
    assert full_jitter(4, 1.0, 30.0, rand=lambda: 0.5) == 4.0
    rng = random.Random(7)
    draws = [full_jitter(20, 1.0, 30.0, rand=rng.random) for _ in range(500)]
    assert all(0.0 <= d < 30.0 for d in draws)
    assert min(draws) < 3.0 and max(draws) > 27.0  # spread over the whole range, not clustered
