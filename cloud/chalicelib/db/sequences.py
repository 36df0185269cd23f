"""Per-clinic sequence counters: OP numbers, specimen ids and SHA invoice numbers share one item kind.

Directory `CLINIC#c` / `COUNTER#{sequence}`: the clinic's last issued number of that sequence (`value`). A
number is taken by moving the counter from `current` to `current + 1` under a condition on `current`, inside
the transaction that writes what the number names (`services/sequences.py` runs the optimistic loop): a
number is never issued twice, and a write that fails gives its number back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pynamodb.attributes import NumberAttribute

from chalicelib.db import keys, store


class Sequence(StrEnum):
    OP = "OP"  # patients' OP numbers (`OP-{year}-{sequence}`)
    LAB = "LAB"  # lab specimen ids
    SHA = "SHA"  # SHA invoice numbers (`SHA-{year}-{sequence}`)


class SequenceItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `COUNTER#{sequence}`."""

    class Meta:
        table_name = store.UNBOUND

    value = NumberAttribute(null=True)


ITEMS = (SequenceItem,)


def sort_key(sequence: Sequence) -> str:
    return f"COUNTER#{sequence.value}"


def current(clinic_id: str, sequence: Sequence) -> int:
    """The clinic's last issued number of `sequence` (0 before the first)."""
    row = store.get(SequenceItem, keys.clinic_pk(clinic_id), sort_key(sequence))
    return int(row.value) if row is not None and row.value is not None else 0


def advance(unit: Any, clinic_id: str, sequence: Sequence, current: int) -> None:
    """Adds to `unit` the counter's move from `current` to `current + 1` (fails if another took that number)."""
    item = SequenceItem(keys.clinic_pk(clinic_id), sort_key(sequence))
    condition = SequenceItem.value.does_not_exist() if current == 0 else SequenceItem.value == current
    unit.update(item, [SequenceItem.value.set(current + 1)], condition=condition)


def seed(clinic_id: str, sequence: Sequence, value: int) -> None:
    """Sets the counter outright (bulk loads that write their own numbered records, e.g. the API bench)."""
    SequenceItem(keys.clinic_pk(clinic_id), sort_key(sequence), value=value).save()
