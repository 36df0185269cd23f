"""Every corpus file through the registry: exactly one adapter claims it, the output equals its expectation.

Runs over every corpus subfolder that has a folder under tests/expectations/ (ophthalmic,
photos, and the lab folders once their expectations exist). Comparison rules are those of
tests/expectations/README.md.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.adapters.registry import classify

REPO = Path(__file__).resolve().parents[3]
EXPECTATIONS = REPO / "tests" / "expectations"
# Same rule as the corpus_dir fixture (tests/conftest.py); needed here at collection time.
CORPUS = Path(os.environ.get("MEDFLOW_CORPUS") or REPO.parent / "shared" / "corpus")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _cases() -> list[tuple[str, str]]:
    folders = sorted(p.name for p in EXPECTATIONS.iterdir() if p.is_dir()) if EXPECTATIONS.is_dir() else []
    cases: set[tuple[str, str]] = set()
    for folder in folders:
        if (CORPUS / folder).is_dir():
            cases |= {(folder, f.name) for f in (CORPUS / folder).iterdir() if f.is_file()}
        cases |= {(folder, e.name.removesuffix(".json")) for e in (EXPECTATIONS / folder).glob("*.json")}
    return sorted(cases)


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return abs(expected - actual) <= 1e-6
    return bool(expected == actual)


def _check_subset(expected: dict[str, Any], actual: dict[str, Any], where: str) -> None:
    for key, want in expected.items():
        if want is None:
            assert key not in actual, f"{where}: {key} should be absent (device marked it absent), got {actual[key]!r}"
        else:
            assert key in actual, f"{where}: {key} missing; produced {actual}"
            assert _same(want, actual[key]), f"{where}: {key} = {actual[key]!r}, expected {want!r}"


def _check_envelope(want: dict[str, Any], item: Parsed, where: str) -> None:
    got = item.model_dump(mode="json", exclude_none=True)
    readings = got.pop("readings")
    if "kind" in want:
        assert item.kind == want["kind"], where
    if "patient_id" in want:
        assert item.patient.id == want["patient_id"], f"{where}: patient id {item.patient.id!r}"
    if "id_source" in want:
        assert item.patient.id_source == want["id_source"], where
    if "device" in want:
        _check_subset(want["device"], got.get("device", {}), f"{where} device")
    if "context" in want:
        _check_subset(want["context"], got.get("context", {}), f"{where} context")
    if "captured_at" in want:
        produced = item.captured_at.isoformat() if item.captured_at else None
        assert produced == want["captured_at"], f"{where}: captured_at {produced!r}"
    if "readings" in want:
        assert len(readings) == len(want["readings"]), (
            f"{where}: {len(readings)} readings, expected {len(want['readings'])}"
        )
        for i, (exp, act) in enumerate(zip(want["readings"], readings, strict=True)):
            _check_subset(exp, act, f"{where} reading {i}")
    if "readings_count" in want:
        assert len(readings) == want["readings_count"], f"{where}: {len(readings)} readings"
        for i, exp in want.get("readings_sample", []):
            _check_subset(exp, readings[i], f"{where} reading {i}")
    for text in want.get("warnings_contain", []):
        assert any(text in w for w in item.warnings), f"{where}: no warning contains {text!r}: {item.warnings}"


@pytest.mark.parametrize(("folder", "filename"), _cases(), ids=lambda v: v)
def test_corpus_file_matches_expectation(corpus_dir: Path, folder: str, filename: str) -> None:
    path = corpus_dir / folder / filename
    expectation = EXPECTATIONS / folder / f"{filename}.json"
    assert path.is_file(), f"expectation {expectation.name} has no corpus file"
    assert expectation.is_file(), f"corpus file {folder}/{filename} has no expectation (add {expectation})"
    want = json.loads(expectation.read_text(encoding="utf-8"))
    raw = path.read_bytes()

    claimants = [a.name for a in ALL_ADAPTERS if a.detect(raw, filename) > 0]
    if want["adapter"] is None:
        assert claimants == [] or want["quarantine"]["reason"] == "empty", f"unexpected claimants {claimants}"
    else:
        assert claimants == [want["adapter"]], f"exactly one adapter must detect {filename}; got {claimants}"

    siblings = tuple(p.name for p in path.parent.iterdir() if p.name != filename)
    outcome = classify(raw, ParseContext(name=filename, now=NOW, siblings=siblings), ALL_ADAPTERS)
    assert (outcome.adapter.name if outcome.adapter else None) == want["adapter"]
    if want["quarantine"]:
        assert outcome.reason is not None, f"expected quarantine {want['quarantine']}, got {len(outcome.items)} items"
        assert outcome.reason.value == want["quarantine"]["reason"], outcome.detail
        assert want["quarantine"].get("detail_contains", "") in outcome.detail, outcome.detail
        assert want["envelopes"] == []
        return
    assert outcome.reason is None, f"quarantined: {outcome.reason} {outcome.detail}"
    assert len(outcome.items) == len(want["envelopes"])
    for i, (env, item) in enumerate(zip(want["envelopes"], outcome.items, strict=True)):
        _check_envelope(env, item, f"{filename} envelope {i}")
