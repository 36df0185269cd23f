"""`medflow-edge parse` and `status` as a user runs them (subprocess), plus the JSON log format."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from agent_testkit import IDENT, LineAdapter, device_file

from edge_agent.__main__ import main
from edge_agent.intake.intake import Intake
from edge_agent.intake.port import Origin
from edge_agent.ops.logs import JsonFormatter
from edge_agent.spool import Spool

REPO = Path(__file__).resolve().parents[3]
TOPASCOPE = "ophthalmic/ukinoki__Rufus__RODENSTOCK_TopaScope_TOMEY_TOP-1000_tonometer.xml"


def medflow_edge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.mark.integration
def test_parse_json_of_a_real_device_file_exits_0(corpus_dir: Path) -> None:
    done = medflow_edge("parse", "--json", str(corpus_dir / TOPASCOPE))
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    env = json.loads(line)
    assert env["schema"] == "medflow.envelope/1" and env["adapter"]["name"].startswith("tomey")
    assert env["patient"]["id"] == "00000033"
    iops = sorted(r["iop_mmhg"] for r in env["readings"] if r["kind"] == "tonometry" and r["eye"] == "OD")
    assert 15.6 in iops


@pytest.mark.integration
def test_parse_quarantined_inputs_exit_3_with_reasons(tmp_path: Path, corpus_dir: Path) -> None:
    (tmp_path / "empty.xml").write_bytes(b"")
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01binary junk\xff")
    done = medflow_edge("parse", "--json", str(corpus_dir / TOPASCOPE), str(tmp_path))
    assert done.returncode == 3, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3 and lines[0]["schema"] == "medflow.envelope/1"
    quarantined = {Path(q["path"]).name: q for q in lines[1:]}
    assert quarantined["empty.xml"] == {"quarantined": True, "path": str(tmp_path / "empty.xml"), "reason": "empty",
                                        "detail": quarantined["empty.xml"]["detail"]}  # fmt: skip
    assert quarantined["notes.bin"]["reason"] == "unknown_format" and quarantined["notes.bin"]["detail"]


@pytest.mark.integration
def test_parse_usage_errors_exit_2(tmp_path: Path) -> None:
    assert medflow_edge("parse").returncode == 2
    missing = medflow_edge("parse", str(tmp_path / "nope.xml"))
    assert missing.returncode == 2 and "nope.xml" in missing.stderr and missing.stdout == ""
    assert medflow_edge("frobnicate").returncode == 2
    assert medflow_edge().returncode == 2


def test_parse_human_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk.txt").write_bytes(b"hello")
    assert main(["parse", str(tmp_path / "junk.txt")]) == 3
    out = capsys.readouterr().out
    assert out.startswith("QUARANTINED ") and "unknown_format" in out


def test_status_reads_the_spool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = Spool(tmp_path / "data")
    intake = Intake(spool, IDENT, max_spool_bytes=10**6, adapters=[LineAdapter()])
    intake.submit(device_file("pid=P1 od=15"), Origin("a.txt", "folder", "file:///a.txt"))
    intake.submit(b"", Origin("b.txt", "folder", "file:///b.txt"))
    spool.ledger.meta.set("last_error", "2026-01-01T00:00:00+00:00 EndpointConnectionError")
    # While the agent still has the spool open (no close): status reads beside it.
    assert main(["status", "--data-dir", str(tmp_path / "data"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"received": 0, "parsed": 1, "quarantined": 1, "uploaded": 0}
    assert report["last_upload_at"] is None and "EndpointConnectionError" in report["last_error"]
    assert main(["status", "--data-dir", str(tmp_path / "data")]) == 0
    text = capsys.readouterr().out
    assert "parsed        1" in text and "last upload     never" in text
    assert report["quarantined_total"] == 1
    spool.close()


def test_status_counts_quarantined_items_after_their_upload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spool = Spool(tmp_path / "data")
    intake = Intake(spool, IDENT, max_spool_bytes=10**6, adapters=[LineAdapter()])
    for name in ("a.txt", "b.txt"):
        item = intake.submit(name.encode() + b"\x00 not a device file", Origin(name, "folder", f"file:///{name}"))
        spool.ledger.outbox.item_uploaded(item.item_id, datetime(2026, 1, 1, tzinfo=UTC))
    assert main(["status", "--data-dir", str(tmp_path / "data")]) == 0
    text = capsys.readouterr().out
    assert "quarantined   0 waiting for upload, 2 in all" in text  # what `replay --dry-run` would examine
    spool.close()


def test_status_without_a_spool_or_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDFLOW_EDGE_CONFIG", raising=False)
    assert main(["status", "--data-dir", str(tmp_path)]) == 1
    assert main(["status"]) == 2


def test_json_logs_carry_extra_ids() -> None:
    record = logging.LogRecord("edge_agent.x", logging.INFO, __file__, 1, "item parsed", None, None)
    record.item_id = 7
    record.at = datetime(2026, 1, 1, tzinfo=UTC)
    line = json.loads(JsonFormatter().format(record))
    assert (line["msg"], line["level"], line["item_id"], line["logger"]) == ("item parsed", "INFO", 7, "edge_agent.x")
    assert line["at"].startswith("2026-01-01")
    assert not {"args", "msecs", "pathname"} & set(line)


def test_setup_logging_writes_json(capsys: pytest.CaptureFixture[str]) -> None:
    from edge_agent.ops.logs import setup_logging

    stream = io.StringIO()
    setup_logging("INFO", stream)
    logging.getLogger("edge_agent.test").info("hello", extra={"item_id": 3})
    assert json.loads(stream.getvalue())["item_id"] == 3
