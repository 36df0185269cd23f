"""`bench/ai_suggest.py` keeps running (`make bench-ai`): at a tiny size it prints the route's and the bare SDK
call's figures against the stand-in, their ratio and the SDK's import time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ai_suggest.py"


def test_bench_prints_route_baseline_ratio_and_import_time() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--width", "800", "--height", "600", "--rounds", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "5 photos of 800x600 → 800x600 JPEG" in out
    for label in ("suggest route", "baseline: bare SDK call, same payload"):
        assert re.search(rf"^\s+{re.escape(label)}\s+p50\s+[\d.]+ ms\s+p95\s+[\d.]+ ms$", out, re.MULTILINE), out
    assert re.search(r"ratio route / bare SDK call \(p50\)\s+[\d.]+x$", out, re.MULTILINE), out
    assert re.search(r"import anthropic \(fresh interpreter\)\s+\d+ ms$", out, re.MULTILINE), out
