"""Lab requests repository: the request (with its results) under the patient, and the clinic-level pointers that
find it by id and by specimen id with one GetItem each.

Items:
- clinical `CLINIC#c#PATIENT#p` / `LAB#{requested}#{id}`: the request, its ordered tests and results (JSON),
  status and `version` (optimistic concurrency between the lab technician and ingest). `gsi1` holds
  `CLINIC#c#LAB#{status}` / `{requested}#{id}`: the lab's worklist of one status, oldest first (one Query).
  `linked` names the envelopes whose results were attached (a redelivered envelope changes nothing).
- directory `CLINIC#c` / `LABREQ#{id}`: pointer id → patient and sort key (GET /lab-requests/{id}).
- directory `CLINIC#c` / `SPECIMEN#{specimen}`: pointer specimen id → request (ingest links analyzer results);
  written with a does-not-exist condition, so two requests can never share a specimen id.
- directory `CLINIC#c` / `COUNTER#LAB`: the clinic's last specimen sequence number (`db/sequences.py`).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store


class LabRequestItem(store.ClinicalItem):
    """Clinical: `CLINIC#c#PATIENT#p` / `LAB#{requested}#{id}`."""

    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    request_id = UnicodeAttribute()
    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    visit_id = UnicodeAttribute(null=True)
    specimen_id = UnicodeAttribute()
    status = UnicodeAttribute()
    urgency = UnicodeAttribute()
    tests = JSONAttribute()  # [{code, name}]
    notes = UnicodeAttribute(null=True)
    results = JSONAttribute(null=True)  # [{code, value, unit?, reference_range?, flag?, source, ...}]
    requested_at = UnicodeAttribute()
    requested_by = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    completed_at = UnicodeAttribute(null=True)
    completed_by = UnicodeAttribute(null=True)
    linked = UnicodeSetAttribute(null=True)  # envelope ids whose results are attached
    version = NumberAttribute()


class LabPointerItem(store.DirectoryItem):
    """Directory: `CLINIC#c` / `LABREQ#{id}` | `SPECIMEN#{specimen}` → the request's patient and sort key."""

    class Meta:
        table_name = store.UNBOUND

    request_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    request_sk = UnicodeAttribute()


ITEMS = (LabRequestItem, LabPointerItem)


def request_sk(requested: str, request_id: str) -> str:
    return f"LAB#{requested}#{keys.segment(request_id)}"


def id_pointer_sk(request_id: str) -> str:
    return f"LABREQ#{keys.segment(request_id)}"


def specimen_pointer_sk(specimen_id: str) -> str:
    # Analyzers echo the id as printed; upper-cased so a reader that lower-cases a barcode still matches.
    return f"SPECIMEN#{keys.segment(specimen_id.strip().upper())}"


def worklist_pk(clinic_id: str, status: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#LAB#{status}"


# --- reading ---------------------------------------------------------------------------------------------


def pointer(clinic_id: str, sk: str) -> LabPointerItem | None:
    return store.get(LabPointerItem, keys.clinic_pk(clinic_id), sk)


def load(clinic_id: str, patient_id: str, sk: str) -> LabRequestItem | None:
    return store.get(LabRequestItem, keys.patient_pk(clinic_id, patient_id), sk)


def of_patient(clinic_id: str, patient_id: str, *, limit: int, next_token: str | None) -> store.Page[LabRequestItem]:
    """A patient's requests, newest first (one Query)."""
    return store.query_page(
        LabRequestItem, keys.patient_pk(clinic_id, patient_id), prefix="LAB#", newest_first=True,
        limit=limit, next_token=next_token,
    )  # fmt: skip


def worklist(clinic_id: str, status: str, *, limit: int, next_token: str | None) -> store.Page[LabRequestItem]:
    """The clinic's requests of one status, oldest first (one Query of `gsi1`)."""
    return store.query_page(
        LabRequestItem, worklist_pk(clinic_id, status), index="gsi1", limit=limit, next_token=next_token
    )


# --- items for a service's transaction -------------------------------------------------------------------


def create(unit: Any, item: LabRequestItem) -> None:
    """The request and both pointers; every one must be new."""
    unit.save(item, condition=LabRequestItem.pk.does_not_exist())
    for sk in (id_pointer_sk(item.request_id), specimen_pointer_sk(item.specimen_id)):
        pointer_item = LabPointerItem(
            keys.clinic_pk(item.clinic_id), sk, request_id=item.request_id, patient_id=item.patient_id,
            request_sk=item.sk,
        )  # fmt: skip
        unit.save(pointer_item, condition=LabPointerItem.pk.does_not_exist())


def new_item(
    clinic_id: str, patient_id: str, request_id: str, requested: str, values: dict[str, Any]
) -> LabRequestItem:
    sk = request_sk(requested, request_id)
    return LabRequestItem(
        keys.patient_pk(clinic_id, patient_id), sk, request_id=request_id, clinic_id=clinic_id,
        patient_id=patient_id, gsi1pk=worklist_pk(clinic_id, values["status"]),
        gsi1sk=f"{requested}#{keys.segment(request_id)}", version=1, **values,
    )  # fmt: skip


def record_results(
    unit: Any,
    row: LabRequestItem,
    *,
    results: list[dict[str, Any]],
    status: str,
    at: str,
    by: str | None,
    envelope_id: str | None = None,
) -> None:
    """Replaces the request's results and status, if nobody changed it since `row` was read (`version`)."""
    item = LabRequestItem(row.pk, row.sk)
    actions: list[Action] = [
        LabRequestItem.results.set(results),
        LabRequestItem.status.set(status),
        LabRequestItem.gsi1pk.set(worklist_pk(row.clinic_id, status)),
        LabRequestItem.updated_at.set(at),
        LabRequestItem.version.set(int(row.version) + 1),
    ]
    if status == "COMPLETED":
        actions.append(LabRequestItem.completed_at.set(at))
        if by:
            actions.append(LabRequestItem.completed_by.set(by))
    condition: Condition = LabRequestItem.version == int(row.version)
    if envelope_id is not None:
        actions.append(LabRequestItem.linked.add({envelope_id}))
        condition = condition & ~LabRequestItem.linked.contains(envelope_id)
    unit.update(item, actions, condition=condition)
