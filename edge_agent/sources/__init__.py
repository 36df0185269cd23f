"""Transports that bring device data in (folder, mllp, serial, astm_tcp); they know nothing about devices.

Every source is built as `SourceClass(config, intake)` in `edge_agent.__main__` and hands each
complete input to the one intake interface (`edge_agent.intake.port.IntakePort`): `submit` from
its own threads, `submit_async` from its event loop. Both return only once the input is durably
spooled. Sources import nothing else of the agent's pipeline (no adapters, no spool).
"""

from __future__ import annotations

from typing import Protocol


class Source(Protocol):
    """A transport's lifecycle: `start()` returns at once (work runs in threads); `stop()` joins them."""

    def start(self) -> None: ...

    def stop(self) -> None: ...
