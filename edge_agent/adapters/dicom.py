"""DICOM files (ophthalmic photography/tomography and friends) -> one image reading from the header.

Found by content: the `DICM` marker at offset 128 (file names are often 8-digit and
extensionless, as DICOMDIR media write them). Only the header is read
(`stop_before_pixels`), so JPEG Baseline, JPEG Lossless and uncompressed files cost the
same and no codec is needed; dimensions come from Rows/Columns. Decisions (docs/devices.md):
Raw Data Storage is kept as an image reading without dimensions and a note (its payload is
vendor-private); a DICOMDIR is an index, quarantined as `unsupported_variant` because each
file it references arrives and is ingested on its own. Inconsistent file meta (SOP class of
a CT in the meta, Modality OP in the data set) and date-only DT values become warnings.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any, ClassVar

from edge_agent.adapters._common import present
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.errors import ParseError
from shared_models import DeviceInfo, Image, PatientRef, QuarantineReason

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
RAW_DATA_CLASS = "1.2.840.10008.5.1.4.1.1.66"
# SOP class UID -> (modality it implies, device kind)
SOP_CLASSES: dict[str, tuple[str, str]] = {
    "1.2.840.10008.5.1.4.1.1.77.1.5.1": ("OP", "fundus_camera"),  # Ophthalmic Photography 8 Bit
    "1.2.840.10008.5.1.4.1.1.77.1.5.2": ("OP", "fundus_camera"),  # Ophthalmic Photography 16 Bit
    "1.2.840.10008.5.1.4.1.1.77.1.5.4": ("OPT", "oct"),  # Ophthalmic Tomography
    "1.2.840.10008.5.1.4.1.1.80.1": ("OPV", "perimeter"),  # Ophthalmic Visual Field Static Perimetry
    "1.2.840.10008.5.1.4.1.1.7": ("OT", "imaging"),  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.2": ("CT", "ct"),
    RAW_DATA_CLASS: ("OT", "imaging"),
}
MODALITY_KIND = {"OP": "fundus_camera", "OPT": "oct", "OPV": "perimeter", "XC": "camera"}
LATERALITY = {"R": "OD", "L": "OS", "B": "OU"}
# The only data elements the adapter reads, by tag number (pydicom's keyword look-up costs a
# dictionary search per call). `dcmread(specific_tags=...)` seeks past every other element's
# value instead of reading it, which is what makes the adapter cheaper than a full header read.
TAG: dict[str, int] = {
    "SOPClassUID": 0x00080016, "SOPInstanceUID": 0x00080018, "StudyInstanceUID": 0x0020000D,
    "SeriesInstanceUID": 0x0020000E, "Modality": 0x00080060, "Manufacturer": 0x00080070,
    "ManufacturerModelName": 0x00081090, "DeviceSerialNumber": 0x00181000, "PatientID": 0x00100020,
    "ImageLaterality": 0x00200062, "Laterality": 0x00200060, "Rows": 0x00280010, "Columns": 0x00280011,
    "NumberOfFrames": 0x00280008, "AcquisitionDateTime": 0x0008002A, "ContentDate": 0x00080023,
    "ContentTime": 0x00080033, "AcquisitionDate": 0x00080022, "AcquisitionTime": 0x00080032,
    "StudyDate": 0x00080020, "StudyTime": 0x00080030, "DirectoryRecordSequence": 0x00041220,
}  # fmt: skip
_WANTED = list(TAG.values())
META = {"MediaStorageSOPClassUID": 0x00020002, "TransferSyntaxUID": 0x00020010}


class Dicom:
    name: ClassVar[str] = "dicom"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        return 0.95 if raw[128:132] == b"DICM" else 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        ds = _read(raw, _WANTED)
        elems = {int(tag): elem for tag, elem in ds.items()}  # unconverted; a plain-int look-up is cheapest
        meta = getattr(ds, "file_meta", None)
        media_class = _meta_uid(meta, "MediaStorageSOPClassUID") if meta is not None else ""
        own_class = _text(elems, "SOPClassUID")
        sop_class = own_class or media_class
        if DICOMDIR_CLASS in (media_class, sop_class) or TAG["DirectoryRecordSequence"] in elems:
            raise ParseError(
                QuarantineReason.UNSUPPORTED_VARIANT,
                f"DICOMDIR media index ({_records(ds)}): the files it references are ingested on their own",
            )
        # Only the wanted elements were kept: an empty result may still be a data set without
        # any of them, which a full read (rare, so affordable) tells apart from a truncated file.
        if len(ds) == 0 and len(_read(raw, None)) == 0:
            raise ParseError(QuarantineReason.MALFORMED, "DICOM file meta without a data set: truncated")
        warnings: list[str] = []
        modality = present(_text(elems, "Modality"))
        implied = SOP_CLASSES.get(sop_class)
        if media_class and own_class and media_class != own_class:
            warnings.append(f"file meta SOP class {media_class} differs from data set SOP class {own_class}")
        if implied and modality and implied[0] != modality:
            warnings.append(
                f"inconsistent meta: SOP class {_class_name(sop_class)} implies {implied[0]} but Modality is {modality}"
            )
        if not own_class:
            warnings.append("data set has no SOPClassUID")
        laterality = present(_text(elems, "ImageLaterality") or _text(elems, "Laterality"))
        extra: dict[str, Any] = {
            "sop_class_uid": sop_class or None,
            "study_uid": _text(elems, "StudyInstanceUID"),
            "series_uid": _text(elems, "SeriesInstanceUID"),
            "sop_instance_uid": _text(elems, "SOPInstanceUID"),
            "transfer_syntax": _meta_uid(meta, "TransferSyntaxUID") or None if meta is not None else None,
        }
        if sop_class == RAW_DATA_CLASS:
            extra["note"] = "Raw Data Storage: vendor-private payload, no pixels; kept as raw"
            width = height = frames = None
        else:
            width, height = _int(_number(ds, elems, "Columns")), _int(_number(ds, elems, "Rows"))
            frames = _int(_text(elems, "NumberOfFrames")) or (1 if width else None)
        image = Image(
            modality=modality or (implied[0] if implied else None),
            laterality=LATERALITY.get((laterality or "").upper()),
            media_type="application/dicom",
            width=width,
            height=height,
            frames=frames,
            **{k: v for k, v in extra.items() if v},
        )
        patient_id = present(_text(elems, "PatientID"))
        kind = MODALITY_KIND.get(modality or "") or (implied[1] if implied else "imaging")
        return [
            Parsed(
                patient=PatientRef(id=patient_id, id_source="dicom" if patient_id else None),
                device=DeviceInfo(
                    vendor=present(_text(elems, "Manufacturer")),
                    model=present(_text(elems, "ManufacturerModelName")),
                    serial=present(_text(elems, "DeviceSerialNumber")),
                    kind=kind,
                ),
                captured_at=_captured(elems, warnings),
                readings=[image],
                warnings=warnings,
                media_type="application/dicom",
            )
        ]


def _str(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _read(raw: bytes, wanted: list[int] | None) -> Any:
    """The header (no pixels), keeping only the `wanted` elements of the data set (None: all of them)."""
    import pydicom  # heavy: imported on first use only

    try:
        return pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True, specific_tags=wanted)
    except Exception as exc:  # truncated data raises many pydicom types: all mean malformed
        raise ParseError(QuarantineReason.MALFORMED, f"DICOM header unreadable: {type(exc).__name__}: {exc}") from exc


def _text(elems: dict[int, Any], keyword: str) -> str | None:
    """A string element straight from its raw bytes: converting every element through pydicom costs
    more than reading the header (bench/parse_corpus.py); strings need no conversion."""
    elem = elems.get(TAG[keyword])
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        text = value.decode("latin-1").strip("\x00 ")
        return text.split("\\")[0] or None
    return _str(value)


def _number(ds: Any, elems: dict[int, Any], keyword: str) -> object:
    """A US element (Rows, Columns): two raw bytes unpacked directly, anything odder through pydicom."""
    elem = elems.get(TAG[keyword])
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes) and len(value) == 2 and elem.VR in ("US", None):  # None: implicit VR, US by tag
        return int.from_bytes(value, "little" if elem.is_little_endian else "big")
    try:
        return ds[TAG[keyword]].value
    except Exception as exc:  # a damaged VR or length makes pydicom raise while converting
        raise ParseError(
            QuarantineReason.MALFORMED, f"DICOM {keyword} unreadable: {type(exc).__name__}: {exc}"
        ) from exc


def _meta_uid(meta: Any, keyword: str) -> str:
    """A file meta UID as pydicom's conversion gives it (trailing NUL/space padding dropped, then
    whitespace), without the conversion machinery for the common single-valued case."""
    elem = meta.get_item(META[keyword])
    if elem is None:
        return ""
    value = elem.value
    if not isinstance(value, bytes):
        return str(value)  # already converted while pydicom read the meta
    if elem.VR == "UI" and b"\\" not in value:
        return value.decode("iso8859").rstrip("\x00 ").strip()
    try:
        return str(meta.get(keyword, ""))
    except Exception as exc:  # a damaged VR makes pydicom raise while converting
        raise ParseError(
            QuarantineReason.MALFORMED, f"DICOM {keyword} unreadable: {type(exc).__name__}: {exc}"
        ) from exc


def _records(ds: Any) -> str:
    """How many directory records a DICOMDIR lists, for the quarantine detail only."""
    try:
        return f"{len(ds.get('DirectoryRecordSequence') or [])} directory records"
    except Exception as exc:  # noqa: BLE001 - a damaged record sequence raises many pydicom types; the count is cosmetic
        return f"directory records unreadable: {type(exc).__name__}"


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _class_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name or uid


def _parse(date: str, time: str = "") -> datetime | None:
    digits = (date + time.split(".")[0]).strip()
    fraction = time.split(".")[1] if "." in time else ""
    stamp = _full_stamp(digits) or _loose_stamp(digits)
    if stamp is None:
        return None
    return stamp.replace(microsecond=int(fraction.ljust(6, "0")[:6])) if fraction.isdigit() else stamp


def _full_stamp(digits: str) -> datetime | None:
    """YYYYMMDDHHMMSS, the usual case, without strptime: same result (each field two digits in
    range is exactly what strptime's first format accepts), anything else left to `_loose_stamp`."""
    if len(digits) != 14 or not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return datetime(
            int(digits[:4]), int(digits[4:6]), int(digits[6:8]), int(digits[8:10]), int(digits[10:12]), int(digits[12:])
        )
    except ValueError:
        return None


def _loose_stamp(digits: str) -> datetime | None:
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d%H", "%Y%m%d"):
        try:
            return datetime.strptime(digits, fmt)
        except ValueError:
            continue
    return None


def _captured(elems: dict[int, Any], warnings: list[str]) -> datetime | None:
    """AcquisitionDateTime, else ContentDate/Time, else StudyDate/Time; a date-only DT is a warning."""
    acq = (_text(elems, "AcquisitionDateTime") or "").strip()
    if acq:
        date, time = acq[:8], acq[8:].split("+")[0].split("-")[0]
        if len(acq) >= 12:
            parsed = _parse(date, time)
            if parsed:
                return parsed
        warnings.append(f"AcquisitionDateTime {acq!r} is truncated (no time); using ContentDate/ContentTime")
    for date_key, time_key in (
        ("ContentDate", "ContentTime"),
        ("AcquisitionDate", "AcquisitionTime"),
        ("StudyDate", "StudyTime"),
    ):
        date = (_text(elems, date_key) or "").strip()
        if date:
            parsed = _parse(date, (_text(elems, time_key) or "").strip())
            if parsed:
                return parsed
            warnings.append(f"{date_key} {date!r} unreadable")
    return None
