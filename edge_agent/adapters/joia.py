"""JOIA "Ophthalmology" XML (NIDEK RT/LM, Topcon CV-5000 parts) and NIDEK legacy `<Data>` -> readings.

JOIA (Japan Ophthalmic Instruments Association) defines one XML layout for refraction
devices: `<Ophthalmology>` holding `<Common>` (device, date, patient) and one
`<Measure type="REF|KM|SBJ|LM|RT">` per function, each vendor adding its own block.
Real exports break XML in vendor-specific ways (see `_tolerant_xml`), so the document is
read tolerantly; per-measure readers and vendor name tables live in `joia_measures`.
Fragments (a `Common` or a single `Measure` with an undeclared `nsXX:` prefix) are read
the same way. The NIDEK legacy `<Data>` root (ARK-1s) is the pre-JOIA layout of the same ideas.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar

from edge_agent.adapters import _tolerant_xml as txml
from edge_agent.adapters._common import decode_text, present
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.adapters.joia_measures import MEASURES, Reader, read_legacy
from edge_agent.errors import ParseError
from shared_models import DeviceInfo, PatientRef, QuarantineReason

_JOIA_ROOTS = {"Ophthalmology", "Common", "Measure"}


class JoiaXml:
    name: ClassVar[str] = "joia_xml"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        root = txml.root_of(raw)
        if root is None:
            return 0.0
        local, prefix = root
        if local == "Ophthalmology" or (local in _JOIA_ROOTS and prefix.startswith("ns")):
            return 0.9
        if local == "Data" and (b"NIDEK" in raw[:2048] or b"N\x00I\x00D\x00E\x00K" in raw[:4096]):
            return 0.8
        return 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        text, warnings = decode_text(raw)
        doc = txml.parse(text)
        if doc is None:
            raise ParseError(QuarantineReason.MALFORMED, "no XML element found")
        root = doc.root
        if not doc.closed:
            raise ParseError(QuarantineReason.MALFORMED, f"document ends before </{root.tag}>: truncated")
        if doc.prefixes - {"xsi", "xml"} and root.tag != "Ophthalmology":
            warnings.append(
                f"fragment with undeclared prefix(es) {', '.join(sorted(doc.prefixes))}; read by local name"
            )
        reader = Reader()
        common = root if root.tag in ("Common", "Data") else root.find("Common")
        kinds: list[str] = []
        if root.tag == "Data":
            read_legacy(reader, root)
            kinds.append("autorefractor")
        measures = [root] if root.tag == "Measure" else root.findall("Measure")
        for measure in measures:
            mtype = (measure.attrs.get("type") or measure.attrs.get("Type") or "").upper()
            handler = MEASURES.get(mtype)
            if handler is None:
                warnings.append(f"<Measure type={mtype!r}> not read (no reader for it)")
                continue
            handler[0](reader, measure)
            kinds.append(handler[1])
        if common is None:
            warnings.append("no <Common> header: device and patient unknown")
        if not reader.readings:
            what = "JOIA <Common> header only, no <Measure>" if root.tag == "Common" else "no measured value"
            raise ParseError(QuarantineReason.NO_READINGS, f"{what} ({_model(common) or 'unknown device'})")
        patient_id = present(common.get("Patient", "ID")) if common else None
        context: dict[str, str] = {}
        if common is not None and (no := present(common.get("Patient", "No.") or common.get("Patient", "No"))):
            context["device_patient_no"] = no
        return [
            Parsed(
                patient=PatientRef(id=patient_id, id_source="vendor_xml" if patient_id else None),
                device=DeviceInfo(
                    vendor=present(common.get("Company")) if common else None,
                    model=_model(common),
                    kind=kinds[0] if kinds else None,
                    serial=present(common.get("MachineNo")) if common else None,
                ),
                captured_at=_when(common, warnings),
                readings=reader.readings,
                warnings=warnings + reader.warnings,
                media_type="application/xml",
                context=context,
            )
        ]


def _model(common: txml.Node | None) -> str | None:
    return present(common.get("ModelName")) if common else None


def _when(common: txml.Node | None, warnings: list[str]) -> datetime | None:
    """`Date` + `Time` as each vendor writes them: 2012-10-18 / 2013/03/11, 16:01:25.062 / 17-16-48."""
    if common is None or not (date := present(common.get("Date"))):
        return None
    time = (present(common.get("Time")) or "00:00:00").split(".")[0]
    stamp = f"{re.sub(r'[/.]', '-', date)} {time.replace('-', ':')}"
    try:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        warnings.append(f"unreadable date/time {date!r} {time!r}")
        return None
