"""A source's reported state (an SMB share's auth_failed) shows in `status` and in /healthz, with no secret in it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from edge_agent.ops.health import Counters, HealthServer
from edge_agent.ops.status import read_status
from edge_agent.sources.seen import SeenFiles, read_statuses
from edge_agent.spool import Spool


def test_status_and_healthz_show_each_reporting_source(spool: Spool, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert read_statuses(data_dir / "sources.db") == {}  # nothing reported yet: nothing shown
    seen = SeenFiles(data_dir / "sources.db")
    seen.set_status("oct-share", "auth_failed", "10.0.0.5:445 refused the user name or password for medflow")
    seen.set_status("fundus", "ok", "encrypted")

    report = read_status(data_dir)
    assert report.sources["oct-share"]["status"] == "auth_failed"
    text = report.to_text()
    assert "source oct-share auth_failed since " in text and "refused the user name or password" in text
    assert "source fundus   ok since " in text and "encrypted" not in text  # details only for trouble
    assert json.loads(report.to_json())["sources"]["fundus"]["status"] == "ok"

    server = HealthServer(spool.ledger.path, Counters(), port=0)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as resp:
            body = json.loads(resp.read())
    finally:
        server.stop()
    assert body["sources"]["oct-share"]["status"] == "auth_failed"

    seen.set_status("oct-share", "ok", "signed")  # fixed: the state follows at once
    assert read_status(data_dir).sources["oct-share"]["status"] == "ok"
    seen.close()
