"""Patient search entries: one directory item per searchable term, under the clinic's partition, written and
replaced in the same transaction as the patient (never a Scan to search).

`CLINIC#c` / `SEARCH#{KIND}#{term}#{patient}` with KIND one of NAME (`{last} {first}` and `{first} {last}`,
normalised), PHONE (E.164 digits and the national number), OP, NID. `services/patient_search.py` computes
the terms; a search is one Query on `SEARCH#{KIND}#{prefix}`.

The clinics of an organisation are read here too (`ORG#o` / `CLINIC#c`, written by the clinics domain)
for the organisation-wide search.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import UnicodeAttribute

from chalicelib.db import keys, store
from chalicelib.models import Page


class SearchItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()


class OrgClinicRef(store.DirectoryItem):
    """Read-only view of the clinics domain's `ORG#o` / `CLINIC#c` items (only the key is used here)."""

    class Meta:
        table_name = store.UNBOUND


ITEMS = (SearchItem, OrgClinicRef)


def term_prefix(kind: str, term: str) -> str:
    return f"SEARCH#{kind}#{keys.segment(term)}"


def entry_sk(kind: str, term: str, patient_id: str) -> str:
    return f"{term_prefix(kind, term)}#{keys.segment(patient_id)}"


def put(unit: Any, clinic_id: str, sk: str, patient_id: str) -> None:
    unit.save(SearchItem(keys.clinic_pk(clinic_id), sk, clinic_id=clinic_id, patient_id=patient_id))


def delete(unit: Any, clinic_id: str, sk: str) -> None:
    unit.delete(SearchItem(keys.clinic_pk(clinic_id), sk))


def find(clinic_id: str, prefix: str, *, limit: int, next_token: str | None) -> Page[str]:
    """Patient ids whose entries start with `prefix`, one Query page, in term order."""
    found = store.query_page(SearchItem, keys.clinic_pk(clinic_id), prefix=prefix, limit=limit, next_token=next_token)
    return Page[str](items=[row.patient_id for row in found.items], next=found.next)


def org_clinics(org_id: str, *, limit: int = 100) -> list[str]:
    """The clinic ids of an organisation (first `limit`, in id order)."""
    found = store.query_page(OrgClinicRef, f"ORG#{keys.segment(org_id)}", prefix="CLINIC#", limit=limit,
                             next_token=None)  # fmt: skip
    return [_unsegment(row.sk.removeprefix("CLINIC#")) for row in found.items]


def _unsegment(value: str) -> str:
    return value.replace("%23", "#").replace("%25", "%")
