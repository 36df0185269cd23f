"""Ingest ledger: the idempotency record per envelope, committed atomically with its audit entry and counters.

The readings are written first with keys derived from the envelope (so a retry rewrites the same
items); the conditional ledger put then decides which delivery counts. A crash in between leaves no
ledger item, so the retry redoes the (idempotent) writes and commits.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.db import agents, audit, keys
from chalicelib.db.tables import LedgerItem, bound, connection
from chalicelib.models import AuditEvent


def is_ingested(clinic_id: str, envelope_id: str) -> bool:
    bound()
    try:
        LedgerItem.get(keys.ledger_pk(clinic_id, envelope_id), keys.LEDGER_SK, consistent_read=True)
    except LedgerItem.DoesNotExist:
        return False
    return True


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
    bound()
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
        with TransactWrite(connection=connection()) as tx:
            tx.save(entry, condition=LedgerItem.pk.does_not_exist())
            tx.update(agent_item, actions=actions)
            tx.save(audit.to_item(event))
    except TransactWriteError:
        # Cancelled: either the ledger condition (a concurrent duplicate) or a real failure.
        if is_ingested(clinic_id, envelope_id):
            return False
        raise
    return True
