"""What a described input owes S3, as the spool stores it: the raw object first, then envelopes or the record.

The intake describes an input (edge_agent.intake.describe: envelopes or a quarantine record); this
module names the S3 object each becomes (shared_models.s3keys) and the bytes it carries.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.identity import Identity
from edge_agent.spool.records import Described, ItemState, SpoolObject
from shared_models import Envelope, QuarantineRecord, RawObject
from shared_models.s3keys import envelope_key, quarantine_key


def spool_objects(
    raw: RawObject, envelopes: Sequence[Envelope], quarantine: QuarantineRecord | None, ident: Identity
) -> list[SpoolObject]:
    """What the uploader must put, in order: the raw bytes first, then envelopes or the record."""
    objs = [SpoolObject(0, "raw", raw.key, raw.media_type)]
    if quarantine is not None:
        key = ident.prefix + quarantine_key(ident.clinic_id, raw.sha256)
        body = quarantine.model_dump_json(exclude_none=True).encode()
        return [*objs, SpoolObject(1, "quarantine", key, "application/json", body)]
    for seq, env in enumerate(envelopes, start=1):
        key = ident.prefix + envelope_key(ident.clinic_id, env.source.received_at, env.envelope_id)
        objs.append(SpoolObject(seq, "envelope", key, "application/json", env.to_bytes()))
    return objs


def assignment_key(ident: Identity, sha256: str, assignment_id: str) -> str:
    """`assignments/{clinic}/{sha256}/{assignment_id}.json`: a patient id for an item's envelopes."""
    return f"{ident.prefix}assignments/{ident.clinic_id}/{sha256}/{assignment_id}.json"


def described(
    raw: RawObject, envelopes: Sequence[Envelope], quarantine: QuarantineRecord | None, ident: Identity
) -> Described:
    """The plain data a commit needs besides the input itself (what a parse worker sends back)."""
    state = ItemState.QUARANTINED if quarantine is not None else ItemState.PARSED
    objects = tuple(spool_objects(raw, envelopes, quarantine, ident))
    if quarantine is None:
        return Described(state, objects)
    return Described(state, objects, reason=quarantine.reason.value, detail=quarantine.detail)
