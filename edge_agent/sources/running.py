"""The agent's running sources, by name: started and stopped with the agent, and changed live when a published
configuration adds, removes or changes sources (edge_agent/remote_config, docs/edge_agent.md "Remote configuration").

Nothing in flight is lost by a change: a source's `stop()` returns once what it took is committed (the folder
source finishes the file it is submitting; a listener stops accepting, and a message it had not yet ACKed is
sent again by its device), and committed items belong to the spool and the uploader, not to the source.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from edge_agent.config import SourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.sources import Source

log = logging.getLogger(__name__)

Build = Callable[[SourceConfig], Source]


class SourceStartFailed(EdgeAgentError):
    """A source of a new configuration could not start; the previous sources run again."""


@dataclass(frozen=True)
class Change:
    """What a new source list did: names added, removed, restarted (a setting changed), left running."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


class RunningSources:
    def __init__(self, build: Build, configs: Sequence[SourceConfig]) -> None:
        self._build = build  # edge_agent.__main__.build_source, bound to the intake
        self._configs = {config.name: config for config in configs}
        self._sources = {config.name: build(config) for config in configs}  # ConfigError: the agent does not start
        self._lock = threading.Lock()  # one change at a time; start/stop of the agent wait for it

    def __iter__(self) -> Iterator[Source]:
        return iter(list(self._sources.values()))

    def __len__(self) -> int:
        return len(self._sources)

    @property
    def configs(self) -> list[SourceConfig]:
        return list(self._configs.values())

    def get(self, name: str) -> Source:
        return self._sources[name]

    def start(self) -> None:
        with self._lock:
            for source in self._sources.values():
                source.start()

    def stop(self) -> None:
        with self._lock:
            for source in reversed(self._sources.values()):
                source.stop()  # nothing new comes in

    def replace(self, configs: Sequence[SourceConfig]) -> Change:
        """Runs exactly `configs`: sources gone are stopped, new ones started, changed ones (any setting differs)
        stopped and started anew, the others left running untouched. All or nothing: every new source is built
        before anything stops (ConfigError: nothing changed), and when one cannot start, those started are stopped
        and the previous sources start again (SourceStartFailed)."""
        wanted = {config.name: config for config in configs}
        with self._lock:
            removed = [name for name in self._configs if name not in wanted]
            restarted = [name for name in wanted if name in self._configs and self._configs[name] != wanted[name]]
            added = [name for name in wanted if name not in self._configs]
            built = {name: self._build(wanted[name]) for name in wanted if name in added or name in restarted}
            for name in reversed([n for n in self._configs if n in removed or n in restarted]):
                self._sources[name].stop()  # before a successor starts: it may need the same port or folder
            started: list[str] = []
            try:
                for name in built:
                    built[name].start()
                    started.append(name)
            except Exception as exc:
                failed = next(name for name in built if name not in started)
                self._roll_back([built[name] for name in reversed(started)], removed + restarted)
                raise SourceStartFailed(f"source {failed!r} cannot start: {exc}") from exc
            self._sources = {name: built.get(name) or self._sources[name] for name in wanted}
            self._configs = dict(wanted)
        unchanged = tuple(name for name in wanted if name not in built)
        return Change(tuple(added), tuple(removed), tuple(restarted), unchanged)

    def _roll_back(self, started: list[Source], stopped: list[str]) -> None:
        for source in started:
            source.stop()
        # The previous sources, in their configured order, built anew (a stopped source cannot start again).
        for name in [n for n in self._configs if n in stopped]:
            try:
                source = self._build(self._configs[name])
                source.start()
            except Exception:  # it ran a moment ago; if it cannot now, say so and keep the others going
                log.exception("previous source cannot start again", extra={"source": name})
                continue
            self._sources[name] = source
