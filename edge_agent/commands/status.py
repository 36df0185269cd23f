"""`medflow-edge status`: spool counts per state, last upload, last error (exit 1 on alarm)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from edge_agent.commands import EXIT_FINDING, EXIT_OK
from edge_agent.errors import EdgeAgentError
from edge_agent.ops.status import read_status


def cmd_status(data_dir: Path, *, as_json: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        report = read_status(data_dir)
    except EdgeAgentError as exc:
        print(f"medflow-edge status: {exc}", file=sys.stderr)
        return EXIT_FINDING
    print(report.to_json() if as_json else report.to_text(), file=out)
    return EXIT_FINDING if report.alarm else EXIT_OK
