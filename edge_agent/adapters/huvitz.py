"""HUVITZ HTR-1A `<datalab>` export (ref/kerato/tono/pachy) -> readings, read tolerantly.

The device writes XML-looking text whose closing tags use a backslash (`<\\patient>`), so no
XML parser accepts it; `_tolerant_xml` reads it as intended. Element names are short codes,
decoded by `FIELDS` (r/l = right/left, e.g. `rrs` = ref right sphere, `krr1` = kerato right
R1 radius, `tr01` = tono right shot 1, `tr` = tono right average, `pr` = pachy right average).
`<patient>` is the number the operator typed on the device; no model name is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from edge_agent.adapters import _tolerant_xml as txml
from edge_agent.adapters._common import axis, decode_text, number, present
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.errors import ParseError
from shared_models import (
    DeviceInfo,
    Keratometry,
    Pachymetry,
    PatientRef,
    PupillaryDistance,
    QuarantineReason,
    Reading,
    Refraction,
    Tonometry,
)

SIDES = {"r": "OD", "l": "OS"}
# (section, code pattern with {s} for r/l) -> reading field
FIELDS: dict[str, dict[str, str]] = {
    "ref": {"r{s}s": "sphere", "r{s}c": "cylinder", "r{s}a": "axis", "r{s}p": "pd"},
    "ker": {"k{s}r1": "r1_mm", "k{s}r2": "r2_mm", "k{s}ax": "r1_axis"},
    "tono": {"t{s}01": "shot", "t{s}": "average"},
    "pachy": {"p{s}01": "shot", "p{s}": "average"},
}


class HuvitzDatalab:
    name: ClassVar[str] = "huvitz_datalab"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        root = txml.root_of(raw)
        return 0.9 if root is not None and root[0] == "datalab" else 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        text, warnings = decode_text(raw)
        doc = txml.parse(text)
        if doc is None or doc.root.tag != "datalab":
            raise ParseError(QuarantineReason.MALFORMED, "no <datalab> element")
        if not doc.closed:
            raise ParseError(QuarantineReason.MALFORMED, "document ends before <\\datalab>: truncated")
        root = doc.root
        readings: list[Reading] = []
        pds: list[float] = []
        for s, side in SIDES.items():
            v = {
                field: root.get(section, code.format(s=s))
                for section, codes in FIELDS.items()
                for code, field in codes.items()
                if section in ("ref", "ker")
            }
            if number(v["sphere"]) is not None or number(v["cylinder"]) is not None:
                readings.append(
                    Refraction(
                        eye=side,
                        method="objective",
                        sphere=number(v["sphere"]),
                        cylinder=number(v["cylinder"]),
                        axis=axis(v["axis"]),
                    )
                )
            if (pd := number(v["pd"])) is not None:
                pds.append(pd)
            r1_axis = axis(v["r1_axis"])
            if number(v["r1_mm"]) is not None or number(v["r2_mm"]) is not None:
                readings.append(
                    Keratometry(
                        eye=side,
                        r1_mm=number(v["r1_mm"]),
                        r2_mm=number(v["r2_mm"]),
                        r1_axis=r1_axis,
                        r2_axis=(r1_axis + 90) % 180 if r1_axis is not None else None,
                    )
                )
            for code, rep in ((f"t{s}01", False), (f"t{s}", True)):
                if (val := number(root.get("tono", code))) is not None:
                    readings.append(Tonometry(eye=side, iop_mmhg=val, representative=rep))
            for code, rep in ((f"p{s}01", False), (f"p{s}", True)):
                if (val := number(root.get("pachy", code))) is not None:
                    readings.append(Pachymetry(eye=side, cct_um=val, representative=rep))
        if pds:
            # The same far PD is repeated under each eye (rrp, rlp): one reading.
            readings.append(PupillaryDistance(far_mm=pds[0]))
        if not readings:
            raise ParseError(QuarantineReason.NO_READINGS, "HUVITZ datalab without measured values")
        patient_id = present(root.get("patient"))
        return [
            Parsed(
                patient=PatientRef(id=patient_id, id_source="vendor_xml" if patient_id else None),
                device=DeviceInfo(vendor="HUVITZ", kind="autorefractor"),
                captured_at=_date(root.get("date"), warnings),
                readings=readings,
                warnings=warnings,
                media_type="application/xml",
                context={"software_version": ver} if (ver := present(root.get("version"))) else {},
            )
        ]


def _date(value: str | None, warnings: list[str]) -> datetime | None:
    if not (value := present(value)):
        return None
    try:
        return datetime.strptime(value.replace("-", "/"), "%Y/%m/%d")
    except ValueError:
        warnings.append(f"unreadable date {value!r}")
        return None
