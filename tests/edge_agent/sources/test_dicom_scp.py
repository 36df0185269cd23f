"""DICOM C-STORE receive: pynetdicom's own `storescu` pushes corpus files to the Storage SCP over a real socket."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.config import DicomScpSourceConfig, parse_config
from edge_agent.errors import ConfigError
from edge_agent.identity import Identity
from edge_agent.intake.intake import Intake
from edge_agent.sources.dicom_scp import OPHTHALMIC_SOP_CLASSES, DicomScpSource, sop_classes
from edge_agent.spool import Spool

RAW_DATA = "1.2.840.10008.5.1.4.1.1.66"
OP_FILES = ("pontikos-lab__process-dcm__eye.dcm", "pontikos-lab__process-dcm__fundus.dcm")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def storescu(port: int, *paths: Path, calling: str = "FUNDUS1", called: str = "MEDFLOW") -> str:
    """pynetdicom's storescu app, verbose; returns what it printed (it logs to stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(port), *map(str, paths),
         "-aet", calling, "-aec", called, "-cx", "-v"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout + done.stderr


class Scp:
    def __init__(self, tmp: Path, max_spool_bytes: int = 10**9) -> None:
        self.spool = Spool(tmp / "spool")
        intake = Intake(self.spool, Identity("c1", "a1"), max_spool_bytes=max_spool_bytes, adapters=ALL_ADAPTERS)
        config = DicomScpSourceConfig(
            name="oct", port=free_port(), allowed_calling_aes=["FUNDUS1", "OCT2"], extra_sop_classes=[RAW_DATA]
        )
        self.source = DicomScpSource(config, intake)
        self.source.start()
        assert self.source.port is not None
        self.port = self.source.port

    def items(self) -> list[tuple[int, str, str, str]]:
        rows = self.spool.ledger.connection.query(
            "SELECT item_id, sha256, state, original_name FROM items ORDER BY item_id"
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def close(self) -> None:
        self.source.stop()
        self.spool.close()


@pytest.fixture
def scp(tmp_path: Path) -> Iterator[Scp]:
    server = Scp(tmp_path)
    yield server
    server.close()


@pytest.mark.integration
def test_storescu_files_are_spooled_as_part10_and_described_by_the_dicom_adapter(scp: Scp, corpus_dir: Path) -> None:
    files = [corpus_dir / "ophthalmic" / name for name in (*OP_FILES, "pontikos-lab__process-dcm__OT.dcm")]
    out = storescu(scp.port, *files)
    assert out.count("Status: 0x0000") == 3, out
    items = scp.items()
    assert [state for _, _, state, _ in items] == ["parsed"] * 3
    sent_by_uid = {str(ds.SOPInstanceUID): ds for ds in map(pydicom.dcmread, files)}
    for item_id, sha, _, name in items:  # storescu sends in its own order (grouped by context)
        raw = scp.spool.read_raw(item_id, sha)
        assert hashlib.sha256(raw).hexdigest() == sha
        assert raw[128:132] == b"DICM"  # a Part 10 file: preamble, prefix, file meta, then the data set as sent
        got = pydicom.dcmread(io.BytesIO(raw))
        sent = sent_by_uid.pop(str(got.SOPInstanceUID))
        assert name == f"{sent.SOPInstanceUID}.dcm"
        assert got.file_meta.TransferSyntaxUID == sent.file_meta.TransferSyntaxUID  # not transcoded
        assert got.PixelData == sent.PixelData if "PixelData" in sent else True
        envelopes = [o for o in scp.spool.ledger.outbox.objects(item_id) if o.role == "envelope"]
        envelope = json.loads(envelopes[0].body or b"{}")
        assert envelope["adapter"]["name"] == "dicom"
        assert envelope["source"]["kind"] == "dicom_scp"
        assert envelope["source"]["device_id"] == "FUNDUS1"  # the calling AE names the modality
        assert envelope["readings"][0]["sop_instance_uid"] == sent.SOPInstanceUID
    assert not sent_by_uid

    # The modality sends the same instances again (it lost our responses): success, stored once.
    again = storescu(scp.port, *files[:2])
    assert again.count("Status: 0x0000") == 2, again
    assert len(scp.items()) == 3


@pytest.mark.integration
def test_a_calling_ae_not_allowed_is_rejected_and_nothing_is_stored(scp: Scp, corpus_dir: Path) -> None:
    out = storescu(scp.port, corpus_dir / "ophthalmic" / OP_FILES[0], calling="INTRUDER")
    assert "Association Rejected" in out and "Calling AE title not recognised" in out, out
    out = storescu(scp.port, corpus_dir / "ophthalmic" / OP_FILES[0], called="OTHER-NODE")
    assert "Association Rejected" in out and "Called AE title not recognised" in out, out
    assert scp.items() == []


@pytest.mark.integration
def test_a_sop_class_not_configured_is_not_accepted(tmp_path: Path, corpus_dir: Path) -> None:
    spool = Spool(tmp_path / "spool")
    intake = Intake(spool, Identity("c1", "a1"), max_spool_bytes=10**9, adapters=ALL_ADAPTERS)
    source = DicomScpSource(DicomScpSourceConfig(name="s", port=free_port(), allowed_calling_aes=["FUNDUS1"]), intake)
    source.start()
    try:
        ophthalmic = corpus_dir / "ophthalmic"
        out = storescu(source.port or 0, ophthalmic / "pontikos-lab__process-dcm__OT.dcm", ophthalmic / OP_FILES[0])
        assert "No presentation context for 'Raw Data Storage'" in out, out
        assert out.count("Status: 0x0000") == 1, out  # the ophthalmic photograph in the same association is taken
        assert spool.ledger.items.counts().get("parsed", 0) == 1
    finally:
        source.stop()
        spool.close()


@pytest.mark.integration
def test_a_full_spool_answers_out_of_resources_so_the_modality_retries(tmp_path: Path, corpus_dir: Path) -> None:
    full = Scp(tmp_path, max_spool_bytes=1000)
    try:
        out = storescu(full.port, corpus_dir / "ophthalmic" / OP_FILES[0])
        assert "Status: 0xA700" in out, out
        assert full.items() == []
    finally:
        full.close()


def test_default_sop_classes_cover_the_ophthalmic_set_and_secondary_capture() -> None:
    config = DicomScpSourceConfig(
        name="s", allowed_calling_aes=["A"], extra_sop_classes=[RAW_DATA, "1.2.840.10008.5.1.4.1.1.7"]
    )
    accepted = sop_classes(config)
    for uid in (
        "1.2.840.10008.5.1.4.1.1.77.1.5.1",  # ophthalmic photography 8 bit
        "1.2.840.10008.5.1.4.1.1.77.1.5.2",  # 16 bit
        "1.2.840.10008.5.1.4.1.1.77.1.5.4",  # OCT
        "1.2.840.10008.5.1.4.1.1.77.1.5.8",  # OCT B-scan volume analysis
        "1.2.840.10008.5.1.4.1.1.80.1",  # visual field
        "1.2.840.10008.5.1.4.1.1.77.1.5.5",  # wide field
        "1.2.840.10008.5.1.4.1.1.7",  # secondary capture
    ):
        assert uid in OPHTHALMIC_SOP_CLASSES and uid in accepted
    assert accepted[-1] == RAW_DATA and len(accepted) == len(set(accepted))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({}, "sources[0].allowed_calling_aes: Field required"),
        ({"allowed_calling_aes": []}, "sources[0].allowed_calling_aes: List should have at least 1 item"),
        ({"allowed_calling_aes": ["A"], "ae_title": "WAY-TOO-LONG-AE-TITLE"}, "sources[0].ae_title: AE title"),
        ({"allowed_calling_aes": ["BAD\\AE"]}, "AE title 'BAD\\\\AE' must be 1-16"),
        ({"allowed_calling_aes": ["A"], "extra_sop_classes": ["Raw Data"]}, "sources[0].extra_sop_classes[0]"),
        ({"allowed_calling_aes": ["A"], "colour": 1}, "sources[0].colour"),
    ],
)
def test_config_errors_name_the_key(source: dict[str, object], message: str) -> None:
    data = {
        "agent": {"clinic_id": "c", "agent_id": "a", "data_dir": "/tmp/x"},
        "cloud": {"bucket": "bucket"},
        "sources": [{"kind": "dicom_scp", "name": "oct", **source}],
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert message in str(info.value)
