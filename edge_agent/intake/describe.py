"""What one raw input becomes, as plain data and no IO: detect, parse, then envelopes or a quarantine record.

`describe` never raises: an input no adapter takes, or one an adapter refuses or chokes on, becomes a
quarantine record with its reason. It knows nothing of the spool: `edge_agent.spool.objects` turns
its answer into the objects the uploader puts. Called by the intake's describe step
(edge_agent.intake.describer, in the agent or a parse worker), by `medflow-edge parse` and by `replay`.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from edge_agent.adapters.base import Adapter, ParseContext
from edge_agent.adapters.registry import Outcome, classify
from edge_agent.identity import Identity
from edge_agent.intake.patient_ids import resolve_patient
from shared_models import AdapterInfo, Envelope, QuarantineReason, QuarantineRecord, RawObject, SourceInfo
from shared_models.s3keys import raw_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Classified:
    """What one raw input becomes: envelopes, or one quarantine record. Pure data, no IO."""

    raw: RawObject
    envelopes: list[Envelope]
    quarantine: QuarantineRecord | None


@dataclass(frozen=True)
class Context:
    """What `describe` needs besides the bytes and the name: where the input came from and how to read it."""

    source: SourceInfo
    relative_path: str = ""  # below the watched folder (patient-id patterns read it)
    patient_id_patterns: Sequence[str] = ()
    siblings: Sequence[str] = ()  # other file names beside it (pairs a printout with its XML)
    sha256: str | None = None  # when the caller hashed the bytes already


def describe(
    raw: bytes,
    name: str,
    context: Context,
    *,
    ident: Identity,
    adapters: Sequence[Adapter],
    refused: tuple[QuarantineReason, str] | None = None,
) -> Classified:
    """Detect and parse `raw`, then build its envelopes (or quarantine record). Never raises.

    `refused` (reason, detail) skips parsing: the input is quarantined for that reason (e.g. it
    killed the parse worker reading it, so it is not parsed again inside the agent).
    """
    source = context.source
    sha = context.sha256 or hashlib.sha256(raw).hexdigest()
    at = source.received_at
    if refused is None:
        ctx = ParseContext(
            name=name,
            now=at,
            relative_path=context.relative_path,
            source_kind=source.kind,
            siblings=tuple(context.siblings),
        )
        outcome = classify(raw, ctx, adapters)
    else:
        outcome = Outcome(reason=refused[0], detail=refused[1])
    ext = PurePosixPath(name).suffix
    media = outcome.items[0].media_type if outcome.items else None
    if not media or media == "application/octet-stream":
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    # The envelope names its raw object's S3 key (the cloud reads the raw bytes by it), so this one
    # key is part of what an input becomes; every other key is the spool's (edge_agent.spool.objects).
    raw_obj = RawObject(
        key=ident.prefix + raw_key(ident.clinic_id, at, sha, ext), sha256=sha, size=len(raw), media_type=media,
        original_name=name or None,
    )  # fmt: skip
    try:
        if not outcome.quarantined:
            envelopes = _envelopes(outcome, ident, context, raw_obj, name)
            return Classified(raw_obj, envelopes, None)
    except Exception as exc:  # an adapter's output that does not fit the envelope must not crash the agent
        log.exception("envelope build failed", extra={"sha256": sha})
        outcome = Outcome(
            adapter=outcome.adapter, reason=QuarantineReason.INTERNAL_ERROR, detail=f"{type(exc).__name__}: {exc}"
        )
    record = QuarantineRecord(
        reason=outcome.reason or QuarantineReason.INTERNAL_ERROR,
        detail=outcome.detail,
        clinic_id=ident.clinic_id,
        agent_id=ident.agent_id,
        source=source,
        raw=raw_obj,
        adapter=outcome.adapter.name if outcome.adapter else None,
        quarantined_at=at,
    )
    return Classified(raw_obj, [], record)


def _envelopes(
    outcome: Outcome,
    ident: Identity,
    context: Context,
    raw_obj: RawObject,
    name: str,
) -> list[Envelope]:
    assert outcome.adapter is not None
    adapter = AdapterInfo(name=outcome.adapter.name, version=outcome.adapter.version)
    parts = len(outcome.items)
    envelopes = []
    for part, item in enumerate(outcome.items):
        patient, warnings = resolve_patient(item.patient, context.patient_id_patterns, context.relative_path, name)
        envelopes.append(
            Envelope(
                envelope_id=raw_obj.sha256 if parts == 1 else f"{raw_obj.sha256}-{part}",
                kind=item.kind,
                part=part,
                parts=parts,
                clinic_id=ident.clinic_id,
                agent_id=ident.agent_id,
                source=context.source,
                raw=raw_obj,
                patient=patient,
                device=item.device,
                adapter=adapter,
                captured_at=item.captured_at,
                readings=item.readings,
                warnings=[*item.warnings, *warnings],
                context=item.context,
            )
        )
    return envelopes
