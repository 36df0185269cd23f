"""A patient id that arrives with bytes already taken: the assignment record the cloud applies. Pure.

A device file dropped first where no pattern gives a patient id (its envelopes went to
unmatched) and again into `inbox/P12345/` is the same bytes: the spool keeps one item, and the
second copy's patient id must not vanish with the duplicate. When the copy's path gives an id
that the first copy's path did not give, the agent uploads this record; the cloud gives the
item's unmatched envelopes that patient (an id read from the content always wins) and audits it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from edge_agent.identity import Identity
from edge_agent.intake.patient_ids import match_path
from edge_agent.intake.port import Origin
from edge_agent.spool.records import Item
from shared_models import PatientAssignment, SourceInfo


def assignment(item: Item, origin: Origin, ident: Identity, at: datetime) -> PatientAssignment | None:
    """The record for a copy of `item`'s bytes that came in through `origin`; None when the copy's path
    gives no patient id, or the same one the first copy's path gave."""
    found, _ = match_path(origin.patient_id_patterns, origin.relative_path, origin.name)
    if found is None:
        return None
    first, _ = match_path(item.patterns, item.relative_path, item.original_name)
    if first is not None and first.id == found.id:
        return None  # a plain duplicate: the first copy had this id already
    digest = hashlib.sha256(f"{item.sha256}\n{found.id}".encode()).hexdigest()
    source = SourceInfo(kind=origin.source_kind, uri=origin.uri, device_id=origin.device_id, received_at=at)
    return PatientAssignment(
        assignment_id=digest, clinic_id=ident.clinic_id, agent_id=ident.agent_id, raw_sha256=item.sha256,
        patient_id=found.id, id_source=found.id_source, pattern=found.pattern, source=source, assigned_at=at,
    )  # fmt: skip
