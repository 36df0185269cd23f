"""`medflow-edge parse`: detection and parsing only (no network, no spool), as a clinic tests a device's export."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from edge_agent.adapters.base import Adapter
from edge_agent.commands import EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE
from edge_agent.identity import Identity
from edge_agent.intake.describe import Classified, Context, describe
from shared_models import SourceInfo


def _inputs(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """Files to parse with their path relative to the folder given (for patient-id patterns)."""
    for path in paths:
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    full = Path(folder) / name
                    yield full, full.relative_to(path).as_posix()
        else:
            yield path, path.name


def _summary(path: Path, result: Classified) -> str:
    if result.quarantine is not None:
        return f"QUARANTINED {path}: {result.quarantine.reason.value}: {result.quarantine.detail}"
    env = result.envelopes[0]
    readings = sum(len(e.readings) for e in result.envelopes)
    matched = sum(1 for e in result.envelopes if e.patient.id)
    return (
        f"OK {path}: {env.adapter.name} {env.adapter.version}, {len(result.envelopes)} envelope(s), "
        f"{readings} reading(s), patient id in {matched} of {len(result.envelopes)}"
    )


def cmd_parse(
    paths: Sequence[str],
    *,
    as_json: bool,
    adapters: Sequence[Adapter],
    patterns: Sequence[str] = (),
    out: TextIO | None = None,
) -> int:
    """Detection and parsing only: no network, no spool. Exit 0 all parsed, 3 any quarantined, 2 usage."""
    out = out or sys.stdout
    if not paths:
        print("medflow-edge parse: give at least one file or folder", file=sys.stderr)
        return EXIT_USAGE
    given = [Path(p) for p in paths]
    missing = [str(p) for p in given if not p.exists()]
    if missing:
        print(f"medflow-edge parse: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    ident = Identity(clinic_id="local", agent_id="cli")
    code = EXIT_OK
    for path, rel in _inputs(given):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            print(f"medflow-edge parse: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            code = EXIT_USAGE
            continue
        source = SourceInfo(kind="cli", uri=path.resolve().as_uri(), received_at=datetime.now(UTC))
        context = Context(source, relative_path=rel, patient_id_patterns=patterns)
        result = describe(raw, path.name, context, ident=ident, adapters=adapters)
        if result.quarantine is not None and code == EXIT_OK:
            code = EXIT_QUARANTINED
        if not as_json:
            print(_summary(path, result), file=out)
        elif result.quarantine is not None:
            q = result.quarantine
            line = {"quarantined": True, "path": str(path), "reason": q.reason.value, "detail": q.detail}
            print(json.dumps(line), file=out)
        else:
            for env in result.envelopes:
                print(env.to_json(), file=out)
    return code
