"""Zeiss Humphrey Field Analyzer CZM-XML (`CZM_HFA_EMR_IOD`) -> one visual_field reading.

The HFA writes a DICOM-shaped XML (each element carries its DICOM tag as `codeId`) and a
TIFF printout of the same base name; `ReferencedImage_M/file_reference` names the TIFF.
Pairing: the pipeline uploads each file on its own and adapters stay pure, so the XML's
envelope carries `context.pairs_with` = its base name and `context.printout` = the named
TIFF; the TIFF (plain_image adapter) carries the same `pairs_with` when the XML is beside it.
Fixation losses are sent as errors and trials (`2` of `15`) and kept as "2/15".
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import ClassVar

from edge_agent.adapters import _tolerant_xml as txml
from edge_agent.adapters._common import decode_text, eye, number, present
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.errors import ParseError
from shared_models import DeviceInfo, PatientRef, QuarantineReason, VisualField

# Reading field -> path below CZM_HFA_EMR_IOD.
PATHS: dict[str, tuple[str, ...]] = {
    "test_name": ("CZM_HFA_Series_M", "test_name"),
    "strategy": ("CZM_HFA_Series_M", "test_strategy"),
    "md_db": ("CZM_HFA_Analysis_M", "mean_deviation"),
    "psd_db": ("CZM_HFA_Analysis_M", "pattern_standard_deviation"),
    "vfi_pct": ("CZM_HFA_Analysis_M", "visual_field_index"),
    "ght": ("CZM_HFA_Analysis_M", "glaucoma_hemifield_test"),
    "false_positive_pct": ("CZM_HFA_Series_M", "false_positives", "false_positive_percent"),
    "false_negative_pct": ("CZM_HFA_Series_M", "false_negatives", "false_negative_percent"),
    "fixation_errors": ("CZM_HFA_Series_M", "fixation_errors"),
    "fixation_trials": ("CZM_HFA_Series_M", "fixation_trials"),
}
_PATTERN = re.compile(r"\b(\d{1,2}-\d{1,2}[A-Z]?|FF\s?\d+|Esterman|Macula)\b", re.IGNORECASE)


class ZeissHfaXml:
    name: ClassVar[str] = "zeiss_hfa_xml"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        root = txml.root_of(raw)
        if root is None or root[0] != "CZM-XML":
            return 0.0
        return 0.9 if b"CZM_HFA" in raw[:8192] else 0.3

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        text, warnings = decode_text(raw)
        doc = txml.parse(text)
        if doc is None or not doc.closed:
            raise ParseError(QuarantineReason.MALFORMED, "CZM-XML document is incomplete")
        iod = doc.root.find("DataSet", "CZM_HFA_EMR_IOD")
        if iod is None:
            raise ParseError(
                QuarantineReason.UNSUPPORTED_VARIANT, "CZM-XML without CZM_HFA_EMR_IOD (not an HFA result)"
            )
        v = {field: present(iod.get(*path)) for field, path in PATHS.items()}
        side = eye(iod.get("GeneralSeries_M", "laterality"))
        if side is None:
            raise ParseError(QuarantineReason.MALFORMED, "HFA result without laterality")
        pattern = _PATTERN.search(v["test_name"] or "")
        fixation = (
            f"{v['fixation_errors']}/{v['fixation_trials']}" if v["fixation_errors"] and v["fixation_trials"] else None
        )
        reading = VisualField(
            eye=side,
            test=pattern.group(1) if pattern else v["test_name"],
            strategy=v["strategy"],
            md_db=number(v["md_db"]),
            psd_db=number(v["psd_db"]),
            vfi_pct=number(v["vfi_pct"]),
            fixation_losses=fixation,
            false_positive_pct=number(v["false_positive_pct"]),
            false_negative_pct=number(v["false_negative_pct"]),
            **({"ght": v["ght"]} if v["ght"] else {}),
        )
        patient_id = present(iod.get("Patient_M", "patient_id"))
        context = {"pairs_with": PurePosixPath(ctx.name).stem}
        if printout := present(iod.get("ReferencedImage_M", "file_reference")):
            context["printout"] = printout
        equipment = iod.find("GeneralEquipment_M")
        return [
            Parsed(
                patient=PatientRef(id=patient_id, id_source="vendor_xml" if patient_id else None),
                device=DeviceInfo(
                    vendor=present(equipment.get("manufacturer")) if equipment else None,
                    model=present(equipment.get("manufacturers_model_name")) if equipment else None,
                    serial=present(equipment.get("device_serial_number")) if equipment else None,
                    kind="perimeter",
                ),
                captured_at=_when(iod, warnings),
                readings=[reading],
                warnings=warnings,
                media_type="application/xml",
                context=context,
            )
        ]


def _when(iod: txml.Node, warnings: list[str]) -> datetime | None:
    date = present(iod.get("CZM_HFA_Series_M", "test_date"))
    time = present(iod.get("CZM_HFA_Series_M", "test_time")) or "00:00:00"
    if not date:
        return None
    try:
        return datetime.fromisoformat(f"{date}T{time.split('.')[0]}")
    except ValueError:
        warnings.append(f"unreadable test date/time {date!r} {time!r}")
        return None
