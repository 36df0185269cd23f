"""hl7/ and astm/ corpus files through classify() with the lab adapters, compared with their expectations.

The registry-wide conformance test covers these too once the adapters are in ALL_ADAPTERS;
this one passes them explicitly so the lab expectations hold on their own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_conformance import CORPUS, EXPECTATIONS, _check_envelope

from edge_agent.adapters.astm import AstmAdapter
from edge_agent.adapters.base import Adapter, ParseContext
from edge_agent.adapters.hl7 import Hl7Adapter
from edge_agent.adapters.registry import classify

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LAB_ADAPTERS: list[Adapter] = [Hl7Adapter(), AstmAdapter()]
FOLDERS = ("hl7", "astm")


def _cases() -> list[tuple[str, str]]:
    cases: set[tuple[str, str]] = set()
    for folder in FOLDERS:
        if (CORPUS / folder).is_dir():
            cases |= {(folder, f.name) for f in (CORPUS / folder).iterdir() if f.is_file()}
        cases |= {(folder, e.name.removesuffix(".json")) for e in (EXPECTATIONS / folder).glob("*.json")}
    return sorted(cases)


@pytest.mark.parametrize(("folder", "filename"), _cases(), ids=lambda v: v)
def test_lab_corpus_file_matches_expectation(corpus_dir: Path, folder: str, filename: str) -> None:
    path = corpus_dir / folder / filename
    expectation = EXPECTATIONS / folder / f"{filename}.json"
    assert path.is_file(), f"expectation {expectation.name} has no corpus file"
    assert expectation.is_file(), f"corpus file {folder}/{filename} has no expectation (add {expectation})"
    want = json.loads(expectation.read_text(encoding="utf-8"))
    raw = path.read_bytes()

    claimants = [a.name for a in LAB_ADAPTERS if a.detect(raw, filename) > 0]
    assert claimants == ([want["adapter"]] if want["adapter"] else []), f"claimed by {claimants}"

    outcome = classify(raw, ParseContext(name=filename, now=NOW), adapters=LAB_ADAPTERS)
    assert (outcome.adapter.name if outcome.adapter else None) == want["adapter"]
    if want["quarantine"]:
        assert outcome.reason is not None, f"expected quarantine {want['quarantine']}, got {len(outcome.items)} items"
        assert outcome.reason.value == want["quarantine"]["reason"], outcome.detail
        assert want["quarantine"].get("detail_contains", "") in outcome.detail, outcome.detail
        return
    assert outcome.reason is None, f"quarantined: {outcome.reason} {outcome.detail}"
    assert len(outcome.items) == len(want["envelopes"])
    for i, (env, item) in enumerate(zip(want["envelopes"], outcome.items, strict=True)):
        _check_envelope(env, item, f"{filename} envelope {i}")
