"""A visual-field XML and its TIFF printout dropped together come out linked (issue 4's pairing),
through the real folder source, intake and adapters."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.config import FolderSourceConfig
from edge_agent.identity import Identity
from edge_agent.intake.intake import Intake
from edge_agent.sources.folder import FolderSource
from edge_agent.spool import Spool
from shared_models import Envelope

pytestmark = pytest.mark.integration
BASE = "openeyes__BBVisualFields__TEST_left_hfa_01_2014_02_18_11_19_02"


def test_hfa_xml_and_tiff_printout_share_a_link(tmp_path: Path, corpus_dir: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    spool = Spool(tmp_path / "data")
    intake = Intake(spool, Identity("c1", "a1"), max_spool_bytes=10**9, adapters=ALL_ADAPTERS)
    source = FolderSource(FolderSourceConfig(name="hfa", path=inbox, settle_seconds=0.2, rescan_seconds=0.2), intake)
    for ext in (".xml", ".tif"):
        shutil.copy(corpus_dir / "ophthalmic" / f"{BASE}{ext}", inbox / f"{BASE}{ext}")
    source.start()
    try:
        deadline = time.monotonic() + 10
        while sum(spool.ledger.items.counts().values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        source.stop()
    found: dict[str, Envelope] = {}
    for item_id in (1, 2):
        for obj in spool.ledger.outbox.objects(item_id):
            if obj.role == "envelope":
                env = Envelope.model_validate_json(obj.body or b"")
                found[env.adapter.name] = env
    spool.close()
    assert set(found) == {"zeiss_hfa_xml", "plain_image"}, found.keys()
    assert found["zeiss_hfa_xml"].context["pairs_with"] == BASE
    assert found["plain_image"].context == {"pairs_with": BASE, "role": "printout"}
