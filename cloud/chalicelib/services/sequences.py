"""Taking the next number of a per-clinic sequence (OP numbers, specimen ids, SHA invoice numbers).

The optimistic loop every numbered record uses:

    for current in sequences.attempts(scope.clinic_id, Sequence.LAB):
        try:
            with audit.change(...) as c:
                sequences.advance(c, scope.clinic_id, Sequence.LAB, current)  # current -> current + 1
                ...  # the record named by number current + 1
        except (store.ConditionFailed, store.Contention):
            continue  # another request took that number: back off, read the counter again
        return ...

`attempts` yields the counter's value before each try, backs off with full jitter between tries so that
contenders spread out, and after `ATTEMPTS` tries raises a 503 naming the sequence.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from chalicelib.db import sequences as repo
from chalicelib.db.sequences import Sequence
from chalicelib.errors import Unavailable

__all__ = ["ATTEMPTS", "Sequence", "advance", "attempts", "backoff"]

ATTEMPTS = 50  # tries under contention before 503

advance = repo.advance

_BUSY = {
    Sequence.OP: ("the clinic's OP counter is busy; try again", "op_counter_busy"),
    Sequence.LAB: ("the clinic's specimen counter is busy; try again", "specimen_counter_busy"),
    Sequence.SHA: ("the clinic's invoice counter is busy; try again", "invoice_counter_busy"),
}


def attempts(clinic_id: str, sequence: Sequence) -> Iterator[int]:
    """The counter's current value before each try; raises 503 `{sequence}_counter_busy` when all lost."""
    for attempt in range(ATTEMPTS):
        if attempt:
            backoff(attempt - 1)
        yield repo.current(clinic_id, sequence)
    message, code = _BUSY[sequence]
    raise Unavailable(message, code=code)


def backoff(attempt: int) -> None:
    """Exponential backoff with full jitter: contenders spread out instead of colliding again."""
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
