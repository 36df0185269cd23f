"""Chooses the adapter for an input and runs it: parsed items, or a quarantine reason. Never raises."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge_agent.adapters.base import Adapter, ParseContext, Parsed
from edge_agent.errors import ParseError
from shared_models import QuarantineReason

log = logging.getLogger(__name__)

# Any byte that is not blank padding; searched, not stripped, so a large file is not copied.
_CONTENT = re.compile(rb"[^ \t\r\n\x00]")

# Two adapters whose confidence differs by less than this are a tie: the input is ambiguous.
_TIE_MARGIN = 0.05


@dataclass
class Outcome:
    """What became of one input: items from `adapter`, or a quarantine reason and detail."""

    adapter: Adapter | None = None
    items: list[Parsed] = field(default_factory=list)
    reason: QuarantineReason | None = None
    detail: str = ""

    @property
    def quarantined(self) -> bool:
        return self.reason is not None


def choose(raw: bytes, name: str, adapters: Sequence[Adapter]) -> tuple[Adapter | None, str]:
    """The single adapter that claims `raw`, or None with the reason text."""
    scored: list[tuple[float, Adapter]] = []
    for adapter in adapters:
        try:
            score = adapter.detect(raw, name)
        except Exception as exc:  # noqa: BLE001 - detect must never raise; a buggy one must not stop the others
            log.warning("adapter detect failed", extra={"adapter": adapter.name, "error": type(exc).__name__})
            continue
        if score > 0:
            scored.append((score, adapter))
    if not scored:
        return None, "no adapter recognises this content"
    scored.sort(key=lambda pair: pair[0], reverse=True)
    if len(scored) > 1 and scored[0][0] - scored[1][0] < _TIE_MARGIN:
        names = ", ".join(a.name for _, a in scored[:2])
        return None, f"ambiguous: {names} claim it equally"
    return scored[0][1], ""


def classify(raw: bytes, ctx: ParseContext, adapters: Sequence[Adapter]) -> Outcome:
    """Detect and parse `raw`. Every input ends as parsed items or a quarantine reason."""
    if _CONTENT.search(raw) is None:
        return Outcome(reason=QuarantineReason.EMPTY, detail=f"{len(raw)} bytes, no content")
    adapter, why = choose(raw, ctx.name, adapters)
    if adapter is None:
        reason = QuarantineReason.AMBIGUOUS_FORMAT if why.startswith("ambiguous") else QuarantineReason.UNKNOWN_FORMAT
        return Outcome(reason=reason, detail=why)
    try:
        items = adapter.parse(raw, ctx)
    except ParseError as exc:
        return Outcome(adapter=adapter, reason=exc.reason, detail=exc.detail)
    except Exception as exc:  # an adapter bug must quarantine the input, never crash the agent
        log.exception("adapter parse failed", extra={"adapter": adapter.name})
        return Outcome(
            adapter=adapter,
            reason=QuarantineReason.INTERNAL_ERROR,
            detail=f"{adapter.name}: {type(exc).__name__}: {exc}",
        )
    if not items:
        return Outcome(
            adapter=adapter, reason=QuarantineReason.NO_READINGS, detail=f"{adapter.name} found nothing to record"
        )
    return Outcome(adapter=adapter, items=items)
