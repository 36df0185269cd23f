"""The intake's describe step for a spool item: pure `describe`, then the objects the spool commits.

One step, one name: `Intake.describe` runs it in the agent's process, `ParsePool.describe` in a
parse worker (edge_agent.intake.parse_worker), both through `Describer.describe`.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.adapters.base import Adapter
from edge_agent.identity import Identity
from edge_agent.intake.describe import Context, describe
from edge_agent.spool.objects import described
from edge_agent.spool.records import Described, Item, NewItem
from shared_models import QuarantineReason, SourceInfo


def context_of(item: NewItem | Item, siblings: Sequence[str] = ()) -> Context:
    """What `describe` needs to know of an item the spool holds (or is about to)."""
    source = SourceInfo(kind=item.source_kind, uri=item.uri, device_id=item.device_id, received_at=item.received_at)
    return Context(source, item.relative_path, item.patterns, siblings, item.sha256)


class Describer:
    """Plain data (pickled once to each parse worker): who describes, with which adapters."""

    def __init__(self, ident: Identity, adapters: Sequence[Adapter]) -> None:
        self.ident = ident
        self.adapters = adapters

    def describe(
        self,
        item: NewItem | Item,
        raw: bytes,
        siblings: Sequence[str] = (),
        refused: tuple[QuarantineReason, str] | None = None,
    ) -> Described:
        """Never raises: what the commit of `item` needs (envelopes, or the quarantine record)."""
        result = describe(
            raw, item.original_name, context_of(item, siblings), ident=self.ident, adapters=self.adapters,
            refused=refused,
        )  # fmt: skip
        return described(result.raw, result.envelopes, result.quarantine, self.ident)
