"""Property tests: mutated corpus files never crash the registry; each ends parsed or quarantined with a reason."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.adapters.base import ParseContext
from edge_agent.adapters.registry import classify

CORPUS = Path(os.environ.get("MEDFLOW_CORPUS") or Path(__file__).resolve().parents[4] / "shared" / "corpus")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Small files are mutated whole; big binaries only through their first 64 KiB (headers are what detection reads).
FILES = sorted(
    p for d in ("ophthalmic", "photos") if (CORPUS / d).is_dir() for p in (CORPUS / d).iterdir() if p.is_file()
)
SAMPLES = {p.name: p.read_bytes()[:65536] for p in FILES}
TEXT = [n for n in SAMPLES if n.endswith((".xml", ".txt"))]

pytestmark = pytest.mark.skipif(not FILES, reason=f"corpus not found at {CORPUS}")


def _ends_well(raw: bytes, name: str) -> None:
    outcome = classify(raw, ParseContext(name=name, now=NOW), ALL_ADAPTERS)
    assert outcome.items or outcome.reason is not None
    if outcome.reason is not None:
        assert outcome.detail
        assert outcome.reason.value != "internal_error", f"{name}: adapter bug: {outcome.detail}"
    for item in outcome.items:
        item.model_dump_json()  # every item serialises


common = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(name=st.sampled_from(sorted(SAMPLES) or ["-"]), cut=st.floats(0, 1))
def test_truncated_files_end_parsed_or_quarantined(name: str, cut: float) -> None:
    raw = SAMPLES[name]
    _ends_well(raw[: int(len(raw) * cut)], name)


@common
@given(name=st.sampled_from(sorted(SAMPLES) or ["-"]), data=st.data())
def test_flipped_bytes_end_parsed_or_quarantined(name: str, data: st.DataObject) -> None:
    raw = bytearray(SAMPLES[name])
    if raw:
        for _ in range(data.draw(st.integers(1, 8))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            raw[pos] = data.draw(st.integers(0, 255))
    _ends_well(bytes(raw), name)


@common
@given(
    name=st.sampled_from(TEXT or ["-"]),
    encoding=st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "latin-1", "utf-8-sig"]),
)
def test_reencoded_text_exports_still_parse(name: str, encoding: str) -> None:
    text = SAMPLES[name].decode("utf-8")
    raw = text.encode(encoding, errors="replace")
    _ends_well(raw, name)
    original = classify(SAMPLES[name], ParseContext(name=name, now=NOW), ALL_ADAPTERS)
    reencoded = classify(raw, ParseContext(name=name, now=NOW), ALL_ADAPTERS)
    if encoding in ("utf-16", "utf-8-sig") or (encoding == "latin-1" and text.isascii()):
        # With a BOM (or plain ASCII) the bytes say their encoding: same result as the original.
        assert (reencoded.reason, len(reencoded.items)) == (original.reason, len(original.items))


@common
@given(raw=st.binary(max_size=2048), name=st.sampled_from(["x.xml", "x.txt", "x.dcm", "x.fds", "x"]))
def test_arbitrary_bytes_never_crash(raw: bytes, name: str) -> None:
    _ends_well(raw, name)
