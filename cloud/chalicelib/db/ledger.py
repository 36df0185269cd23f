"""Ingest ledger: the idempotency record per envelope, committed atomically with its audit entry and counters.

The readings are written first with keys derived from the envelope (so a retry rewrites the same
items); the conditional ledger put then decides which delivery counts. A crash in between leaves no
ledger item, so the retry redoes the (idempotent) writes and commits.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import agents, audit, keys, store
from chalicelib.models import AuditEvent


class LedgerItem(store.Item):
    TABLE = "ingest_ledger"

    class Meta:
        table_name = store.UNBOUND

    clinic_id = UnicodeAttribute()
    envelope_id = UnicodeAttribute()
    s3_key = UnicodeAttribute()
    outcome = UnicodeAttribute()  # "matched" | "unmatched" | "no_readings" | "patient_updated" | "patient_stale"
    readings = NumberAttribute()
    ingested_at = UTCDateTimeAttribute()


ITEMS = (LedgerItem,)


def is_ingested(clinic_id: str, envelope_id: str) -> bool:
    return store.get(LedgerItem, keys.ledger_pk(clinic_id, envelope_id), keys.LEDGER_SK) is not None


def commit(
    *,
    clinic_id: str,
    agent_id: str,
    envelope_id: str,
    s3_key: str,
    outcome: str,
    readings: int,
    at: datetime,
    event: AuditEvent,
) -> bool:
    """Records the envelope as ingested. Returns False when another delivery committed it first."""
    entry = LedgerItem(
        keys.ledger_pk(clinic_id, envelope_id),
        keys.LEDGER_SK,
        clinic_id=clinic_id,
        envelope_id=envelope_id,
        s3_key=s3_key,
        outcome=outcome,
        readings=readings,
        ingested_at=at,
    )
    agent_item, actions = agents.counter_update(
        clinic_id,
        agent_id,
        at,
        envelopes_ingested=1,
        readings_ingested=readings if outcome == "matched" else 0,
        unmatched_ingested=1 if outcome == "unmatched" else 0,
    )
    try:
        with store.unit() as unit:
            unit.save(entry, condition=LedgerItem.pk.does_not_exist())
            unit.update(agent_item, actions=actions)
            audit.add(unit, event)
    except store.ConditionFailed:  # a concurrent duplicate committed first
        return False
    return True
