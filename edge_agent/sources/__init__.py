"""Transports that bring device data in (folder, mllp, serial, astm_tcp); they know nothing about devices.

Every source is built as `SourceClass(config, intake)` in `edge_agent.__main__` and hands each
complete input to `Intake.submit`, which returns only once the input is durably spooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from edge_agent.pipeline import IntakeResult
    from edge_agent.spool import ItemState, Origin


class Source(Protocol):
    """A transport's lifecycle: `start()` returns at once (work runs in threads); `stop()` joins them."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class IntakePort(Protocol):
    """What a source needs from `edge_agent.pipeline.Intake` (tests pass fakes of this)."""

    def submit(self, raw: bytes, origin: Origin, *, siblings: Sequence[str] = ()) -> IntakeResult: ...

    def state(self, item_id: int) -> ItemState | None: ...
