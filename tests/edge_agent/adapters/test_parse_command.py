"""`medflow-edge parse` on every corpus file: exit 0 with its envelopes, or exit 3 with the reason (issue 4)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.commands.parse import cmd_parse

REPO = Path(__file__).resolve().parents[3]
EXPECTATIONS = REPO / "tests" / "expectations"
FOLDERS = sorted(p.name for p in EXPECTATIONS.iterdir() if p.is_dir())


def _expectations() -> list[Path]:
    return sorted(EXPECTATIONS.glob("*/*.json"))


@pytest.mark.parametrize("expectation", _expectations(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_parse_command_reports_each_corpus_file_as_expected(expectation: Path, corpus_dir: Path) -> None:
    want = json.loads(expectation.read_text(encoding="utf-8"))
    path = corpus_dir / expectation.parent.name / expectation.name.removesuffix(".json")
    out = io.StringIO()
    code = cmd_parse([str(path)], as_json=True, adapters=ALL_ADAPTERS, out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    if want["quarantine"]:
        assert code == 3
        assert lines == [
            {
                "quarantined": True,
                "path": str(path),
                "reason": want["quarantine"]["reason"],
                "detail": lines[0]["detail"],
            }
        ]
        assert want["quarantine"].get("detail_contains", "") in lines[0]["detail"]
    else:
        assert code == 0
        assert len(lines) == len(want["envelopes"])
        for line, env in zip(lines, want["envelopes"], strict=True):
            assert line["schema"] == "medflow.envelope/1"
            assert line["adapter"]["name"] == want["adapter"]
            assert line.get("kind", "observations") == env.get("kind", "observations")
            if "readings" in env:
                assert len(line.get("readings", [])) == len(env["readings"])


def test_console_script_over_the_whole_corpus_exits_3_and_prints_one_line_per_result(corpus_dir: Path) -> None:
    wanted = [json.loads(p.read_text(encoding="utf-8")) for p in _expectations()]
    lines_expected = sum(1 if w["quarantine"] else len(w["envelopes"]) for w in wanted)
    folders = [str(corpus_dir / name) for name in FOLDERS]
    proc = subprocess.run(
        [sys.executable, "-m", "edge_agent", "parse", "--json", *folders],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == lines_expected
    assert sum(1 for line in lines if line.get("quarantined")) == sum(1 for w in wanted if w["quarantine"])


def test_parse_without_paths_or_with_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert cmd_parse([], as_json=True, adapters=ALL_ADAPTERS) == 2
    assert cmd_parse([str(tmp_path / "nope.xml")], as_json=True, adapters=ALL_ADAPTERS) == 2
