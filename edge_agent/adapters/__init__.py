"""Device adapters, one module per device family; `ALL_ADAPTERS` is the registry (one line per adapter)."""

from __future__ import annotations

from edge_agent.adapters.base import Adapter

ALL_ADAPTERS: list[Adapter] = []
