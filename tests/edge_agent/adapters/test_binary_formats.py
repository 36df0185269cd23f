"""DICOM, OCT containers and plain images: detection by magic bytes, header-only reads."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime

import pytest
from PIL import Image as PILImage
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.adapters.base import ParseContext
from edge_agent.adapters.dicom import Dicom
from edge_agent.adapters.images import PlainImage
from edge_agent.adapters.oct_containers import HeidelbergE2e, TopconFds
from edge_agent.adapters.registry import classify
from edge_agent.errors import ParseError

CTX = ParseContext(name="00000001", now=datetime(2026, 1, 1, tzinfo=UTC))


def _dicom(**fields: object) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    for key, value in fields.items():
        setattr(ds, key, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_dicom_header_without_pixels() -> None:
    raw = _dicom(
        SOPClassUID="1.2.840.10008.5.1.4.1.1.77.1.5.1",
        Modality="OP",
        PatientID="P1",
        ImageLaterality="L",
        Rows=10,
        Columns=20,
        AcquisitionDateTime="20240101120000",
    )
    assert Dicom().detect(raw, "00000001") > 0
    (item,) = Dicom().parse(raw, CTX)
    (image,) = item.readings
    assert (image.modality, image.laterality, image.width, image.height) == ("OP", "OS", 20, 10)
    assert item.patient.id == "P1" and item.patient.id_source == "dicom"
    assert item.captured_at == datetime(2024, 1, 1, 12)


def test_truncated_dicom_is_malformed_never_a_crash() -> None:
    raw = _dicom(Modality="OP", PatientID="P1")
    outcome = classify(raw[:140], CTX, ALL_ADAPTERS)
    assert outcome.reason is not None


def _topcon(eye: int) -> bytes:
    def chunk(name: bytes, data: bytes) -> bytes:
        return bytes([len(name)]) + name + struct.pack("<I", len(data)) + data

    capture = bytes([eye, 2]) + b"\x00" * 104 + struct.pack("<6H", 2010, 7, 9, 9, 23, 36)
    return (
        b"FOCTFDS"
        + struct.pack("<II", 1, 1001)
        + chunk(b"@HW_INFO_03", b"3DOCT-2000".ljust(16, b"\0") + b"SN1".ljust(16, b"\0"))
        + chunk(b"@PATIENT_INFO_02", b"PID7".ljust(32, b"\0"))
        + chunk(b"@CAPTURE_INFO_02", capture)
    )


def test_topcon_header_fields_and_truncation() -> None:
    (item,) = TopconFds().parse(_topcon(0), CTX)
    assert (item.device.model, item.device.serial, item.patient.id) == ("3DOCT-2000", "SN1", "PID7")
    assert item.readings[0].laterality == "OD" and item.captured_at == datetime(2010, 7, 9, 9, 23, 36)
    with pytest.raises(ParseError):
        TopconFds().parse(_topcon(1)[:20], CTX)


def test_e2e_needs_its_directory() -> None:
    assert HeidelbergE2e().detect(b"CMDb" + b"\0" * 40, "x") > 0
    with pytest.raises(ParseError):
        HeidelbergE2e().parse(b"CMDb" + b"\0" * 40, CTX)


def test_tiff_beside_its_xml_is_paired() -> None:
    out = io.BytesIO()
    PILImage.new("RGB", (4, 3)).save(out, format="TIFF")
    ctx = ParseContext(name="hfa_01.tif", now=CTX.now, siblings=("hfa_01.xml", "other.xml"))
    (item,) = PlainImage().parse(out.getvalue(), ctx)
    assert (item.readings[0].width, item.readings[0].height) == (4, 3)
    assert item.context == {"pairs_with": "hfa_01", "role": "printout"}
    (alone,) = PlainImage().parse(out.getvalue(), ParseContext(name="x.tif", now=CTX.now))
    assert alone.context == {}
