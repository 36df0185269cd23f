"""Tomey TOP-1000 / Rodenstock TopaScope non-contact tonometer XML (`<Measurement>`) -> tonometry readings.

The TopaScope is the Tomey TOP-1000 sold under Rodenstock's name; both write the same file.
Per eye it sends each air-puff shot as `<IOP quality="Normal|Low|...">16</IOP>` (single shots,
representative=false), the device's own average `<IOPAvg>` (the representative value), and
`<CCT>`/`<CIOP>` (central corneal thickness and CCT-corrected IOP) which read `--.-` when the
optional pachymeter did not measure: those are omitted. `<DateTime>` is `2020-12-04_17-24-30`
in the device's local time (no offset is sent).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from edge_agent.adapters import _tolerant_xml as txml
from edge_agent.adapters._common import decode_text, eye, number, present
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.errors import ParseError
from shared_models import DeviceInfo, Pachymetry, PatientRef, QuarantineReason, Reading, Tonometry


class TomeyTopascope:
    name: ClassVar[str] = "tomey_topascope"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        root = txml.root_of(raw)
        if root is None or root[0] != "Measurement":
            return 0.0
        return 0.9 if (b"IOP" in raw[:4096] or b"I\x00O\x00P" in raw[:8192]) else 0.4

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        text, warnings = decode_text(raw)
        doc = txml.parse(text)
        if doc is None or doc.root.tag != "Measurement":
            raise ParseError(QuarantineReason.MALFORMED, "no <Measurement> element")
        if not doc.closed:
            warnings.append("document ends before </Measurement>: file may be truncated")
        root = doc.root
        readings: list[Reading] = []
        for eye_node in root.findall("Eye"):
            side = eye(eye_node.attrs.get("type"))
            if side is None:
                warnings.append(f"<Eye type={eye_node.attrs.get('type')!r}> is not OD/OS; skipped")
                continue
            for shot in eye_node.findall("IOP"):
                iop = number(shot.text)
                if iop is not None:
                    readings.append(
                        Tonometry(
                            eye=side, iop_mmhg=iop, representative=False, quality=present(shot.attrs.get("quality"))
                        )
                    )
            avg = number(eye_node.get("IOPAvg"))
            if avg is not None:
                readings.append(
                    Tonometry(
                        eye=side, iop_mmhg=avg, representative=True, corrected_iop_mmhg=number(eye_node.get("CIOP"))
                    )
                )
            cct = number(eye_node.get("CCT"))
            if cct is not None:
                readings.append(Pachymetry(eye=side, cct_um=cct))
        if not readings:
            raise ParseError(QuarantineReason.NO_READINGS, "TopaScope file without IOP values")
        patient_id = present(root.get("PatientID"))
        return [
            Parsed(
                patient=PatientRef(id=patient_id, id_source="vendor_xml" if patient_id else None),
                device=DeviceInfo(
                    vendor=present(root.get("Company")) or "Tomey", model=present(root.get("Model")), kind="tonometer"
                ),
                captured_at=_timestamp(root.get("DateTime"), warnings),
                readings=readings,
                warnings=warnings,
                media_type="application/xml",
            )
        ]


def _timestamp(value: str | None, warnings: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d_%H-%M-%S")
    except ValueError:
        warnings.append(f"unreadable DateTime {value!r}")
        return None
