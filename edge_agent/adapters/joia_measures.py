"""Per-measure readers of the JOIA "Ophthalmology" family: one function per `<Measure type=...>`.

Element names per vendor differ only a little (Topcon writes `Sph`/`Cyl`/`HPri`, NIDEK
`Sphere`/`Cylinder`/`PrismX`); the tables below say which name means what, and the
functions walk the shared structure. Everything returns shared_models readings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from edge_agent.adapters._common import axis, eye, number, present
from edge_agent.adapters._tolerant_xml import Node
from shared_models import (
    Biometry,
    Keratometry,
    Pachymetry,
    PupillaryDistance,
    Reading,
    Refraction,
    Tonometry,
    VisualAcuity,
)

Method = Literal["objective", "subjective", "final", "lensmeter", "habitual"]

# Field -> element names that carry it, across vendors.
RX_FIELDS: dict[str, tuple[str, ...]] = {
    "sphere": ("Sphere", "Sph"),
    "cylinder": ("Cylinder", "Cyl"),
    "add": ("ADD", "Add"),
    "spherical_equivalent": ("SE",),
    "prism_h": ("PrismX", "HPri"),
    "prism_v": ("PrismY", "VPri"),
}
# NIDEK RT CorrectionType -> method: LM_Base starts from the patient's own glasses (lensmeter),
# REF_Base from the autorefraction, Full is the full subjective correction, Best the prescribed one.
RT_CORRECTIONS: dict[str, Method] = {
    "LM_Base": "habitual",
    "REF_Base": "objective",
    "Full": "subjective",
    "Best": "final",
}
# Topcon CV-5000 SBJ TypeName -> method.
SBJ_TYPES: dict[str, Method] = {"Full Correction": "subjective", "Prescription": "final", "Current": "habitual"}
# NIDEK legacy <Data> VA codes -> correction.
VA_CODES: dict[str, str | None] = {
    "UCVA": "uncorrected",
    "BCVA": "best corrected",
    "NVA": "near",
    "LVA": None,
    "GVA": None,
}


class Reader:
    """Collects readings and warnings while walking one document."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.warnings: list[str] = []

    def errored(self, node: Node, where: str) -> bool:
        """`<Error>COVR</Error>` entries (measurement failed: COVR = out of range) are skipped with a warning."""
        err = node.get("Error")
        if err is None:
            return False
        self.warnings.append(f"{where}: device error {err.strip()!r} skipped")
        return True

    def rx(self, node: Node | None, side: str, method: Method, **extra: object) -> None:
        side_eye = eye(side)
        if node is None or side_eye is None:
            return
        values: dict[str, object] = {}
        for field, names in RX_FIELDS.items():
            value = next((v for n in names if (v := number(node.get(n))) is not None), None)
            if value is not None:
                values[field] = value
        if "sphere" not in values and "cylinder" not in values:
            return
        values["axis"] = axis(node.get("Axis"))
        confidence = number(node.get("ConfidenceIndex"))
        if confidence is not None:
            values["confidence"] = int(confidence)
        for field, names in (("prism_base_h", ("PrismX", "HBase")), ("prism_base_v", ("PrismY", "VBase"))):
            base = node.find(names[0])
            text = base.attrs.get("base") if base is not None and base.text else present(node.get(names[1]))
            if text and field.replace("base_", "") in values:
                values[field] = text
        self.readings.append(Refraction(eye=side_eye, method=method, **values, **extra))

    def kerato(self, node: Node | None, side: str, representative: bool, **extra: object) -> None:
        side_eye = eye(side)
        if node is None or side_eye is None:
            return
        values: dict[str, object] = {}
        for meridian in ("R1", "R2"):
            part = node.find(meridian)
            if part is not None:
                values[f"{meridian.lower()}_mm"] = number(part.get("Radius"))
                values[f"{meridian.lower()}_d"] = number(part.get("Power"))
                values[f"{meridian.lower()}_axis"] = axis(part.get("Axis"))
        avg = node.find("Average")
        if avg is not None:
            values.update(avg_mm=number(avg.get("Radius")), avg_d=number(avg.get("Power")))
        cyl = node.find("Cylinder") or node.find("KMCylinder")
        if cyl is not None:
            values["cyl_d"] = number(cyl.get("Power"))
        if all(v is None for v in values.values()):
            return
        self.readings.append(Keratometry(eye=side_eye, representative=representative, **values, **extra))

    def acuity(self, value: str | None, side: str, correction: str | None = None, **extra: object) -> None:
        shown = present(value)
        side_eye = "OU" if side == "B" else eye(side)
        decimal = number(shown)
        if shown is None or side_eye is None or decimal == 0:
            return  # 0.00 is how the CV-5000 and RT write "not tested"
        exact = shown.replace(".", "", 1).isdigit()
        self.readings.append(
            VisualAcuity(eye=side_eye, value=shown, decimal=decimal if exact else None, correction=correction, **extra)
        )

    def pd(self, far: str | None, near: str | None = None, od: str | None = None, os_: str | None = None) -> None:
        values = {"far_mm": number(far), "near_mm": number(near), "od_mm": number(od), "os_mm": number(os_)}
        if any(v is not None for v in values.values()):
            self.readings.append(PupillaryDistance(**values))


def read_ref(r: Reader, m: Node) -> None:
    """nsREF (autorefraction): per eye the single `List` entries, then the device's `Median`."""
    vd = number(m.get("VD"))
    block = m.find("REF") or m
    for side in ("R", "L"):
        node = block.find(side)
        if node is None:
            continue
        for item in node.findall("List"):
            if not r.errored(item, f"REF {side} List {item.attrs.get('No', '?')}"):
                r.rx(item, side, "objective", representative=False, vertex_mm=vd)
        r.rx(node.find("Median"), side, "objective", representative=True, vertex_mm=vd)
    pd = m.find("PD")
    if pd is not None:
        r.pd(pd.get("Distance"), pd.get("Near"))


def read_km(r: Reader, m: Node) -> None:
    index = number(m.get("RefractiveIndex"))
    extra = {"refractive_index": index} if index is not None else {}
    block = m.find("KM") or m
    for side in ("R", "L"):
        node = block.find(side)
        if node is None:
            continue
        for item in node.findall("List"):
            if not r.errored(item, f"KM {side} List {item.attrs.get('No', '?')}"):
                r.kerato(item, side, False, **extra)
        r.kerato(node.find("Median"), side, True, **extra)


def read_sbj(r: Reader, m: Node) -> None:
    """Topcon CV-5000 subjective refraction: per test type and exam distance, both eyes, VA and PD."""
    for test in (m.find("RefractionTest") or m).findall("Type"):
        type_name = present(test.get("TypeName")) or ""
        method = SBJ_TYPES.get(type_name, "subjective")
        for exam in test.findall("ExamDistance"):
            data = exam.find("RefractionData")
            distance = number(exam.get("Distance"))
            extra = {"test": type_name, "exam_distance_cm": distance}
            vd = number(data.get("VD")) if data else None
            for side in ("R", "L"):
                r.rx(data.find(side) if data else None, side, method, vertex_mm=vd, **extra)
            va = exam.find("VA")
            for side in ("R", "L", "B"):
                r.acuity(va.get(side) if va else None, side, type_name or None)
            pd = exam.find("PD")
            if pd is not None:
                r.pd(pd.get("B"), od=pd.get("R"), os_=pd.get("L"))


def read_lm(r: Reader, m: Node) -> None:
    """Lensmeter: `R`/`L` are the two lenses of a pair; `S` is single-lens mode (no eye): not kept."""
    block = m.find("LM") or m
    for index, single in enumerate(block.findall("S"), start=1):
        r.errored(single, f"LM single lens {index}")
    for side in ("R", "L"):
        node = block.find(side)
        if node is not None and not r.errored(node, f"LM {side}"):
            r.rx(node, side, "lensmeter")
    pd = m.find("PD")
    if pd is not None:
        r.pd(pd.get("Distance"), od=pd.get("DistanceR"), os_=pd.get("DistanceL"))


def read_rt(r: Reader, m: Node) -> None:
    """NIDEK RT phoropter: each `Corrected` block, then K/IOP/CCT the RT received from other devices."""
    phoropter = m.find("Phoropter") or m
    pd_blocks: dict[Method, Node] = {}
    for corrected in phoropter.findall("Corrected"):
        kind = corrected.attrs.get("CorrectionType", "")
        method = RT_CORRECTIONS.get(kind, "subjective")
        vision = corrected.attrs.get("Vision")
        for side in ("R", "L"):
            r.rx(corrected.find(side), side, method, correction_type=kind, vision=vision)
        for side in ("R", "L", "B"):
            r.acuity(corrected.get(side, "VA"), side, kind)
        if number(corrected.get("B", "PD")) is not None:
            pd_blocks.setdefault(method, corrected)
    # PD belongs to the patient, not to a correction: one reading, from the most final block.
    for method in ("final", "subjective", "objective", "habitual"):
        if method in pd_blocks:
            c = pd_blocks[method]
            r.pd(c.get("B", "PD"), od=c.get("R", "PD"), os_=c.get("L", "PD"))
            break
    # The21pointExams repeats a Corrected block's values for the 21-point analysis: not kept twice.
    for side in ("R", "L"):
        r.kerato(m.find("KM", side, "Median"), side, True)
        iop = number(m.get("TM", side, "Average", "IOP_mmHg"))
        if iop is not None and (e := eye(side)) is not None:
            r.readings.append(Tonometry(eye=e, iop_mmhg=iop, representative=True))
        cct = number(m.get("PACHY", side, "Average", "Thickness"))
        if cct is not None and (e := eye(side)) is not None:
            r.readings.append(Pachymetry(eye=e, cct_um=cct))


def read_legacy(r: Reader, data: Node) -> None:
    """NIDEK legacy `<Data>` (ARK-1s and relatives): per eye AR/VA/SR/LM/KM/CS/PS, then PD."""
    vd = number(data.get("VD"))
    for side in ("R", "L"):
        node = data.find(side)
        if node is None:
            continue
        ar = node.find("AR")
        if ar is not None:
            for item in ar.findall("ARList"):
                if not r.errored(item, f"AR {side} No {item.attrs.get('No', '?')}"):
                    r.rx(item, side, "objective", representative=False, vertex_mm=vd)
            r.rx(ar.find("ARMedian"), side, "objective", representative=True, vertex_mm=vd)
            r.rx(ar.find("TrialLens"), side, "objective", representative=False, lens="trial", vertex_mm=vd)
            r.rx(ar.find("ContactLens"), side, "objective", representative=False, lens="contact", vertex_mm=0.0)
        va = node.find("VA")
        for code, correction in VA_CODES.items():
            r.acuity(va.get(code) if va else None, side, correction, code=code)
        r.rx(node.find("SR"), side, "subjective")
        r.rx(node.find("LM"), side, "lensmeter")
        km = node.find("KM")
        if km is not None:
            for item in km.findall("KMList"):
                if not r.errored(item, f"KM {side} No {item.attrs.get('No', '?')}"):
                    r.kerato(item, side, False)
            r.kerato(km.find("KMMedian"), side, True)
        corneal = number(node.get("CS", "CSList", "Size"))
        pupil = number(node.get("PS", "PSList", "Size"))
        if (corneal or pupil) and (e := eye(side)) is not None:
            r.readings.append(Biometry(eye=e, corneal_diameter_mm=corneal, pupil_diameter_mm=pupil))
        # AC (accommodation) and RI (retro-illumination opacity) have no reading kind yet.
    for item in (data.find("PD") or data).findall("PDList"):
        r.pd(item.get("FarPD"), item.get("NearPD"), item.get("RPD"), item.get("LPD"))


MEASURES: dict[str, tuple[Callable[[Reader, Node], None], str]] = {
    "REF": (read_ref, "autorefractor"),
    "KM": (read_km, "keratometer"),
    "SBJ": (read_sbj, "phoropter"),
    "LM": (read_lm, "lensmeter"),
    "RT": (read_rt, "phoropter"),
}
