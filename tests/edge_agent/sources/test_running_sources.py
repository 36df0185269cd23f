"""Live source changes (functional, fake sources): gone ones stop before successors start, changed ones restart,
unchanged ones keep running untouched, and a source that cannot start leaves the previous set running."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import FolderSourceConfig, MllpSourceConfig, SourceConfig
from edge_agent.errors import ConfigError
from edge_agent.sources import Source
from edge_agent.sources.running import RunningSources, SourceStartFailed


class FakeSource:
    def __init__(self, config: SourceConfig, journal: list[str], refuse: set[str]) -> None:
        self.config, self.journal, self.refuse = config, journal, refuse
        self.running = False

    def start(self) -> None:
        if self.config.name in self.refuse:
            raise OSError("address already in use")
        self.running = True
        self.journal.append(f"start {self.config.name}")

    def stop(self) -> None:
        self.running = False
        self.journal.append(f"stop {self.config.name}")


class Factory:
    def __init__(self) -> None:
        self.journal: list[str] = []
        self.refuse: set[str] = set()
        self.unbuildable: set[str] = set()

    def __call__(self, config: SourceConfig) -> Source:
        if config.name in self.unbuildable:
            raise ConfigError(f"source {config.name!r}: kind not available here")
        return FakeSource(config, self.journal, self.refuse)


def folder(name: str, **settings: float) -> FolderSourceConfig:
    return FolderSourceConfig(name=name, path=Path(f"/srv/{name}"), **settings)  # type: ignore[arg-type]


def lab(port: int = 2575) -> MllpSourceConfig:
    return MllpSourceConfig(name="lab", port=port)


def names(sources: RunningSources) -> list[str]:
    return [config.name for config in sources.configs]


def test_added_removed_changed_and_unchanged_sources() -> None:
    factory = Factory()
    sources = RunningSources(factory, [folder("inbox"), lab(), folder("oct")])
    sources.start()
    inbox = sources.get("inbox")
    factory.journal.clear()

    change = sources.replace([folder("inbox"), lab(2576), folder("scans")])
    assert (change.added, change.removed, change.restarted, change.unchanged) == (
        ("scans",), ("oct",), ("lab",), ("inbox",),
    )  # fmt: skip
    # Stopped first (a successor may need the same port or folder), then started in the configured order.
    assert factory.journal == ["stop oct", "stop lab", "start lab", "start scans"]
    assert sources.get("inbox") is inbox and names(sources) == ["inbox", "lab", "scans"]
    assert sources.get("lab").config.port == 2576  # type: ignore[attr-defined]


def test_a_source_that_cannot_be_built_changes_nothing() -> None:
    factory = Factory()
    sources = RunningSources(factory, [folder("inbox")])
    sources.start()
    factory.unbuildable.add("serial")
    factory.journal.clear()
    with pytest.raises(ConfigError):
        sources.replace([folder("serial")])
    assert factory.journal == [] and names(sources) == ["inbox"]


def test_a_source_that_cannot_start_brings_the_previous_ones_back() -> None:
    factory = Factory()
    sources = RunningSources(factory, [folder("inbox"), lab()])
    sources.start()
    factory.refuse.add("dicom")
    factory.journal.clear()
    with pytest.raises(SourceStartFailed, match="'dicom' cannot start: address already in use"):
        sources.replace([folder("inbox", settle_seconds=5), MllpSourceConfig(name="dicom", port=104)])
    assert factory.journal == ["stop lab", "stop inbox", "start inbox", "stop inbox", "start inbox", "start lab"]
    assert names(sources) == ["inbox", "lab"]
    assert all(source.running for source in sources)  # type: ignore[attr-defined]
    assert sources.get("inbox").config.settle_seconds == 2.0  # type: ignore[attr-defined]
