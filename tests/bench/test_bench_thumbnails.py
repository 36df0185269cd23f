"""`bench/thumbnails.py` keeps running (`make bench-thumbnails`): at a tiny size both Pillow paths print their
figures and the output fits 300x300, and the Lambda's import time is reported."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "thumbnails.py"


def test_bench_prints_both_pillow_paths_the_ratio_and_the_import_time() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--width", "640", "--height", "480", "--rounds", "2", "--no-sharp"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    for label in ("medflow (draft + reducing_gap)", "pillow plain thumbnail()"):
        row = re.search(rf"^{re.escape(label)}\s+([\d.]+)\s+([\d.]+)\s+(\d+)x(\d+)", out, re.MULTILINE)
        assert row is not None, out
        assert float(row.group(1)) > 0 and (int(row.group(3)), int(row.group(4))) == (300, 225)
    assert re.search(r"^ratio medflow / pillow plain: [\d.]+x$", out, re.MULTILINE), out
    assert "sharp: skipped (--no-sharp)" in out
    assert re.search(r"^thumbnails Lambda import: \d+ ms vs bare interpreter \d+ ms", out, re.MULTILINE), out
