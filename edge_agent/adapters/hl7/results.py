"""HL7 v2 results (ORU^R01, OUL^R22) → `lab` readings: OBX with its OBR order context, SPM specimen, NTE notes.

Order groups run from one OBR to the next. The specimen of a group is the first SPM inside
it (ORU_R01 puts SPM after the results) or else the nearest SPM before its OBR (OUL_R22 puts
SPM first); without SPM, OBR-3 (the filler's accession number) names the specimen. NTE after
an OBX is that result's comment; NTE anywhere else is a message note (context "notes").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_agent.hl7.syntax import Message, Segment, components, parse_number, parse_timestamp
from shared_models import LabObservation

CODE_SYSTEMS = {"LN": "LOINC", "LOINC": "LOINC", "SCT": "SNOMED CT", "SNM": "SNOMED", "UCUM": "UCUM"}
CODED = {"CE", "CWE", "CNE", "CF"}
_SN_EXACT = {"", "="}


@dataclass
class _Group:
    obr: Segment | None
    spm: Segment | None = None
    spm_before: Segment | None = None
    observations: list[tuple[Segment, list[str]]] = field(default_factory=list)


def lab_readings(message: Message, instrument: str | None) -> tuple[list[LabObservation], list[str], list[str]]:
    """(readings, message notes, warnings) for a results message."""
    groups, notes = _groups(message)
    readings: list[LabObservation] = []
    warnings: list[str] = []
    for group in groups:
        # What the group's OBR/SPM say is the same for each of its OBX: read it once.
        obr = group.obr
        shared = _Shared(
            specimen_id=_specimen(group),
            order_id=_order_id(obr),
            obr_time=parse_timestamp(obr.get(7)) if obr is not None else None,
            instrument=instrument,
            placer_order_id=(obr.get(2) or None) if obr is not None else None,
            filler_order_id=(obr.get(3) or None) if obr is not None else None,
            order_code=(obr.get(4) or None) if obr is not None else None,
        )
        for obx, comments in group.observations:
            reading = _observation(obx, shared, comments)
            if reading is None:
                warnings.append(f"OBX on line {obx.line} has neither identifier nor value; skipped")
                continue
            readings.append(reading)
    if not readings:
        warnings.append("results message without any OBX result")
    return readings, notes, warnings


def _groups(message: Message) -> tuple[list[_Group], list[str]]:
    groups: list[_Group] = [_Group(obr=None)]
    notes: list[str] = []
    last_spm: Segment | None = None
    current_obx: list[str] | None = None
    for seg in message.segments:
        name = seg.name
        if name == "OBX":  # tested first: most segments of a results message
            comments: list[str] = []
            groups[-1].observations.append((seg, comments))
            current_obx = comments
        elif name == "OBR":
            groups.append(_Group(obr=seg, spm_before=last_spm))
            current_obx = None
        elif name == "SPM":
            last_spm = seg
            if groups[-1].spm is None and groups[-1].obr is not None:
                groups[-1].spm = seg
            current_obx = None
        elif name == "NTE":
            text = "\n".join(filter(None, (_plain(rep, seg) for rep in seg.reps(3))))
            if text:
                (current_obx if current_obx is not None else notes).append(text)
        elif name not in ("TCD", "PRT"):  # segments that still belong to the OBX before them
            current_obx = None
    return [g for g in groups if g.obr is not None or g.observations], notes


def _plain(rep: str, seg: Segment) -> str:
    return " ".join(c for c in components(rep, seg.delims) if c).strip()


@dataclass(frozen=True)
class _Shared:
    specimen_id: str | None
    order_id: str | None
    obr_time: datetime | None
    instrument: str | None
    placer_order_id: str | None = None
    filler_order_id: str | None = None
    order_code: str | None = None


def _observation(obx: Segment, shared: _Shared, comments: list[str]) -> LabObservation | None:
    data = _plain_fields(obx) if obx.plain else _fields(obx)
    if not data["code"] and not data["value"]:
        return None
    data["observed_at"] = data["observed_at"] or shared.obr_time
    data["instrument"] = data["instrument"] or shared.instrument
    data["specimen_id"] = shared.specimen_id
    data["order_id"] = shared.order_id
    data["placer_order_id"] = shared.placer_order_id
    data["filler_order_id"] = shared.filler_order_id
    data["order_code"] = shared.order_code
    data["comments"] = comments
    # Validated from one dict: keyword arguments would be packed into a second dict for
    # `__init__`, a cost paid for every OBX on the MLLP ACK path.
    return LabObservation.model_validate(data)


def _fields(obx: Segment) -> dict[str, Any]:
    """What an OBX itself says of its result (no group context yet), by the general path."""
    code, system, name = _identifier(obx, 3)
    value, numeric, extra = _value(obx)
    return {
        "code": code,
        "code_system": system,
        "name": name or None,
        "value": value,
        "numeric": numeric,
        "unit": obx.get(6) or obx.get(6, 2) or None,
        "reference_range": obx.text(7).strip() or None,
        "flags": obx.each(8),
        "status": obx.get(11) or None,
        "observed_at": parse_timestamp(obx.get(14)) or parse_timestamp(obx.get(19)),
        "instrument": obx.get(18),
        **extra,
    }


_NO_FIELDS = [""] * 20


def _plain_fields(obx: Segment) -> dict[str, Any]:
    """`_fields` of a plain OBX (no escape, repetition or subcomponent anywhere: how analyzers
    send most results): every field is its only value and a leaf is a stripped component, so
    each is read once, by index. The same answer as the general path; `lab_readings` of a 16-OBX
    message runs 17 % fewer instructions (callgrind)."""
    f = obx.fields
    if len(f) < 20:
        f = [*f, *_NO_FIELDS[len(f) :]]
    sep = obx.delims.component
    parts = [*map(str.strip, f[3].split(sep)), "", "", "", "", "", ""] if f[3] else _NO_FIELDS
    code, name, sent = parts[0], parts[1], parts[2]
    if not code and parts[3]:
        code, name, sent = parts[3], parts[4] or name, parts[5]
    value, numeric, extra = _plain_value(f[2].split(sep, 1)[0].strip().upper(), f[5], sep)
    unit = f[6].split(sep, 2)
    flag = f[8].split(sep, 1)[0].strip()
    return {
        "code": code,
        "code_system": CODE_SYSTEMS.get(sent.upper(), sent) if sent else ("local" if code else None),
        "name": name or None,
        "value": value,
        "numeric": numeric,
        "unit": unit[0].strip() or (unit[1].strip() if len(unit) > 1 else "") or None,
        "reference_range": f[7].strip() or None,
        "flags": [flag] if flag else [],
        "status": f[11].split(sep, 1)[0].strip() or None,
        "observed_at": parse_timestamp(f[14].split(sep, 1)[0].strip())
        or parse_timestamp(f[19].split(sep, 1)[0].strip()),
        "instrument": f[18].split(sep, 1)[0].strip(),
        **extra,
    }


def _plain_value(kind: str, raw: str, sep: str) -> tuple[str, float | None, dict[str, str]]:
    """`_value` of a plain OBX-5 (`raw`, one repetition at most) of type `kind`."""
    if not raw:
        return "", None, {}
    if kind in CODED or kind == "SN":
        return _value_of(kind, [c.strip() for c in raw.split(sep)])
    text = raw.strip()
    return text, parse_number(text) if kind in ("NM", "") else None, {}


def _identifier(seg: Segment, n: int) -> tuple[str, str | None, str]:
    """(code, coding system, name) of a CE/CWE field, falling back to its alternate triplet."""
    parts = [*seg.leaves(n), "", "", "", "", "", ""]  # padded: an absent component reads ''
    code, name, system = parts[0], parts[1], parts[2]
    if not code and parts[3]:
        code, name, system = parts[3], parts[4] or name, parts[5]
    if not system:
        return code, ("local" if code else None), name
    return code, CODE_SYSTEMS.get(system.upper(), system), name


def _value(obx: Segment) -> tuple[str, float | None, dict[str, str]]:
    """OBX-5 as a person reads it, its number when it is one exactly, and coded parts."""
    kind = obx.get(2).upper()
    reps = obx.reps(5)
    if not reps:
        return "", None, {}
    if kind in CODED or kind == "SN":
        return _value_of(kind, components(reps[0], obx.delims))
    text = obx.text(5).strip()
    numeric = parse_number(text) if kind in ("NM", "") and len(reps) == 1 else None
    return text, numeric, {}


def _value_of(kind: str, parts: list[str]) -> tuple[str, float | None, dict[str, str]]:
    """A coded (CE/CWE/CNE/CF) or structured numeric (SN) value from its first repetition's components."""
    if kind in CODED:
        code, text = parts[0], parts[1] if len(parts) > 1 else ""
        if not code and len(parts) > 4:  # alternate triplet only (e.g. ^^^55^Pseudomonas aeruginosa^L)
            code, text = parts[3], parts[4]
        extra = {"value_code": code} if code and text else {}
        return text or code, None, extra
    comparator, first, separator, second = [*parts, "", "", "", ""][:4]
    shown = f"{comparator if comparator != '=' else ''}{first}{separator}{second}"
    exact = comparator in _SN_EXACT and not separator and not second
    return shown, parse_number(first) if exact else None, {}


def _specimen(group: _Group) -> str | None:
    spm = group.spm or group.spm_before
    if spm is not None:
        return spm.get(2, 1, 1) or spm.get(2, 2, 1) or None
    if group.obr is not None:
        return group.obr.get(3) or None
    return None


def _order_id(obr: Segment | None) -> str | None:
    if obr is None:
        return None
    return obr.get(2) or obr.get(3) or None
