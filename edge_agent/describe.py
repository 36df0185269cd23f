"""What one raw input becomes, as plain data and no IO: detect, parse, then envelopes or a quarantine record.

`describe` never raises: an input no adapter takes, or one an adapter refuses or chokes on, becomes a
quarantine record with its reason. Used by `Intake` (edge_agent.pipeline), by parse workers
(edge_agent.parse_worker), by `medflow-edge parse` and by `replay`.
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
from edge_agent.patient_ids import resolve_patient
from edge_agent.spool import Item, ItemState, NewItem, SpoolObject
from edge_agent.spool.records import Described
from shared_models import AdapterInfo, Envelope, QuarantineReason, QuarantineRecord, RawObject, SourceInfo
from shared_models.s3keys import envelope_key, quarantine_key, raw_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """Who is uploading, and under which key prefix (empty for the bucket's root)."""

    clinic_id: str
    agent_id: str
    prefix: str = ""


@dataclass(frozen=True)
class Classified:
    """What one raw input becomes: envelopes, or one quarantine record. Pure data, no IO."""

    raw: RawObject
    envelopes: list[Envelope]
    quarantine: QuarantineRecord | None

    def described(self, ident: Identity) -> Described:
        """The plain data the spool commits (what a parse worker sends back)."""
        q = self.quarantine
        state = ItemState.QUARANTINED if q is not None else ItemState.PARSED
        return Described(
            state, tuple(self.objects(ident)), reason=q.reason.value if q else None, detail=q.detail if q else None
        )

    def objects(self, ident: Identity) -> list[SpoolObject]:
        """What the uploader must put, in order: the raw bytes first, then envelopes or the record."""
        objs = [SpoolObject(0, "raw", self.raw.key, self.raw.media_type)]
        if self.quarantine is not None:
            key = ident.prefix + quarantine_key(ident.clinic_id, self.raw.sha256)
            body = self.quarantine.model_dump_json(exclude_none=True).encode()
            return [*objs, SpoolObject(1, "quarantine", key, "application/json", body)]
        for seq, env in enumerate(self.envelopes, start=1):
            key = ident.prefix + envelope_key(ident.clinic_id, env.source.received_at, env.envelope_id)
            objs.append(SpoolObject(seq, "envelope", key, "application/json", env.to_bytes()))
        return objs


def describe(
    raw: bytes,
    *,
    ident: Identity,
    name: str,
    source: SourceInfo,
    relative_path: str = "",
    patient_id_patterns: Sequence[str] = (),
    adapters: Sequence[Adapter] | None = None,
    sha256: str | None = None,
    siblings: Sequence[str] = (),
    refused: tuple[QuarantineReason, str] | None = None,
) -> Classified:
    """Detect and parse `raw`, then build its envelopes (or quarantine record). Never raises.

    `refused` (reason, detail) skips parsing: the input is quarantined for that reason (e.g. it
    killed the parse worker reading it, so it is not parsed again inside the agent).
    """
    sha = sha256 or hashlib.sha256(raw).hexdigest()
    at = source.received_at
    if refused is None:
        ctx = ParseContext(
            name=name, now=at, relative_path=relative_path, source_kind=source.kind, siblings=tuple(siblings)
        )
        outcome = classify(raw, ctx, adapters)
    else:
        outcome = Outcome(reason=refused[0], detail=refused[1])
    ext = PurePosixPath(name).suffix
    media = outcome.items[0].media_type if outcome.items else None
    if not media or media == "application/octet-stream":
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    raw_obj = RawObject(
        key=ident.prefix + raw_key(ident.clinic_id, at, sha, ext), sha256=sha, size=len(raw), media_type=media,
        original_name=name or None,
    )  # fmt: skip
    try:
        if not outcome.quarantined:
            envelopes = _envelopes(outcome, ident, source, raw_obj, patient_id_patterns, relative_path, name)
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


def describe_item(
    item: NewItem | Item,
    raw: bytes,
    ident: Identity,
    *,
    adapters: Sequence[Adapter] | None = None,
    siblings: Sequence[str] = (),
    refused: tuple[QuarantineReason, str] | None = None,
) -> Classified:
    """`describe` for an input the spool knows the facts of (how the agent and its parse workers call it)."""
    source = SourceInfo(kind=item.source_kind, uri=item.uri, device_id=item.device_id, received_at=item.received_at)
    return describe(
        raw, ident=ident, name=item.original_name, source=source, relative_path=item.relative_path,
        patient_id_patterns=item.patterns, adapters=adapters, sha256=item.sha256, siblings=siblings, refused=refused,
    )  # fmt: skip


def _envelopes(
    outcome: Outcome,
    ident: Identity,
    source: SourceInfo,
    raw_obj: RawObject,
    patterns: Sequence[str],
    relative_path: str,
    name: str,
) -> list[Envelope]:
    assert outcome.adapter is not None
    adapter = AdapterInfo(name=outcome.adapter.name, version=outcome.adapter.version)
    parts = len(outcome.items)
    envelopes = []
    for part, item in enumerate(outcome.items):
        patient, warnings = resolve_patient(item.patient, patterns, relative_path, name)
        envelopes.append(
            Envelope(
                envelope_id=raw_obj.sha256 if parts == 1 else f"{raw_obj.sha256}-{part}",
                kind=item.kind,
                part=part,
                parts=parts,
                clinic_id=ident.clinic_id,
                agent_id=ident.agent_id,
                source=source,
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


def describe_new(
    new: NewItem,
    raw: bytes,
    ident: Identity,
    *,
    adapters: Sequence[Adapter] | None = None,
    siblings: Sequence[str] = (),
    refused: tuple[QuarantineReason, str] | None = None,
) -> Described:
    """`describe_item` as the plain data a commit needs (what `Intake` and its parse workers hand over)."""
    classified = describe_item(new, raw, ident, adapters=adapters, siblings=siblings, refused=refused)
    return classified.described(ident)
