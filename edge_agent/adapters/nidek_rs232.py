"""NIDEK RS-232 text output (ARK-1a, ARK-1/1s, TONOREF III and relatives) -> refraction, K, IOP, CCT, PD.

What the device sends (checked line by line against the corpus and against Rufus'
`procedures.cpp`, which reads the same stream): optional SOH, a 3-letter block code
(table `BLOCKS`), optional STX, then CR-terminated lines, each optionally ending in ETB;
EOT and a 4-hex-digit trailer (checksum, algorithm undocumented, not verified) close it.
When the stream went through a terminal or a copy, control characters are missing and
the code is glued to the next field (`DRMIDNIDEK/TONOREF3`, `DKM L07.76...`): both handled.

Fixed-width fields (positions after the 2-letter line code):
  O{L|R} sph(6) cyl(6) axis(3) [confidence(1)]  objective refraction; without the confidence
         digit it is the device's representative value, with it a single shot (0-9).
  C{L|R} same without confidence: contact-lens equivalent (vertex 0). T{L|R}: trial-lens value.
  D{L|R} in a refraction block: difference Drm - DRM (derived, not kept).
  " L"/" R" r1_mm(5) r2_mm(5) r1_axis(3) avg_mm(5)  then  D{L|R} r1_d(5) r2_d(5) axis(3) avg_d(5) cyl(6):
         keratometry; the first pair per eye is the representative (median of the shots that follow).
  PD far(2) ????(4) near(2); S{L|R} corneal diameter mm; P{L|R} pupil mm + flag.
  DNT " L01    17/2.3  AV17.0/2.30": shot 01 = 17 mmHg (2.3 kPa), AV = average.
  DPM " L01 0583  AV0583": pachymetry shot and average in µm.
An unmeasured eye is sent as all zeros (`CR+00.00+00.00000`) and `????` fills unknown
fields: both are omitted. Lower-case blocks (`Drm`, `Dkm`) are a second data set the device
sends beside the main one; they are kept as non-representative readings tagged `series`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar

from edge_agent.adapters._common import decode_text, eye, looks_binary, number
from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.errors import ParseError
from shared_models import (
    Biometry,
    DeviceInfo,
    Keratometry,
    Pachymetry,
    PupillaryDistance,
    QuarantineReason,
    Reading,
    Refraction,
    Tonometry,
)

# Block code -> what the block carries. Upper case: main data set; lower case: second set.
BLOCKS: dict[str, str] = {"DRM": "ref", "Drm": "ref", "DKM": "kerato", "Dkm": "kerato", "DNT": "tono", "DPM": "pachy"}
MODELS: dict[str, tuple[str, str]] = {  # as sent -> (model name, device kind)
    "TONOREF3": ("TONOREF III", "autorefractor"),
    "TONOREF2": ("TONOREF II", "autorefractor"),
}
_BLOCK_AT_START = re.compile(r"^(" + "|".join(BLOCKS) + r")(?=$|[ I\x02]|\d)")
_ID = re.compile(r"NIDEK/([\w.\-]+)")
_REF = re.compile(r"^([OCT])([LR])([-+ ]\d\d\.\d\d)([-+ ]\d\d\.\d\d)(\d{3})(\d)?\s*$")
_K_MM = re.compile(r"^ ([LR])(\d\d\.\d\d)(\d\d\.\d\d)(\d{3})(\d\d\.\d\d)\s*$")
_K_D = re.compile(r"^D([LR])(\d\d\.\d\d)(\d\d\.\d\d)(\d{3})(\d\d\.\d\d)([-+]\d\d\.\d\d)\s*$")
_NT = re.compile(r"^ ([LR])(\d\d)\s+(\S+)\s+AV(\S+)\s*$")
_PM = re.compile(r"^ ([LR])(\d\d)\s+(\d+)\s+AV(\d+)\s*$")
_DATE = re.compile(r"^DA(\d\d/[A-Z]{3}/\d{4}\.\d\d:\d\d)")
_CTRL = str.maketrans({"\x01": "\n", "\x02": "\n", "\x17": "", "\x04": "\n", "\r": "\n"})


def _lines(text: str) -> list[str]:
    """Logical lines, with a block code glued to its first field split off onto its own line."""
    out: list[str] = []
    for line in text.translate(_CTRL).split("\n"):
        match = _BLOCK_AT_START.match(line)
        if match:
            out.append(match.group(1))
            line = line[match.end() :]
        if line.strip():
            out.append(line.rstrip())
    return out


class NidekRs232:
    name: ClassVar[str] = "nidek_rs232"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        if looks_binary(raw):  # the port sends text (files saved as UTF-16 pass this check)
            return 0.0
        head, _ = decode_text(raw[:512] if raw[:2] not in (b"\xff\xfe", b"\xfe\xff") else raw[:1024])
        head = head.lstrip("\ufeff\x01\r\n ")
        if head[:3] in BLOCKS and ("NIDEK/" in head or "\nNO" in head):
            return 0.9
        return 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        text, warnings = decode_text(raw)  # the port sends ASCII; files saved on Windows may be UTF-16
        lines = _lines(text)
        state = _State()
        state.warnings.extend(warnings)
        for line in lines:
            state.feed(line)
        if not state.readings:
            raise ParseError(QuarantineReason.NO_READINGS, "NIDEK stream without any measured value")
        model_sent = state.model or ""
        model, kind = MODELS.get(model_sent, (model_sent or None, "autorefractor"))
        context = {"measurement_no": state.number} if state.number else {}
        return [
            Parsed(
                device=DeviceInfo(vendor="NIDEK", model=model, kind=kind),
                captured_at=state.captured_at,
                readings=state.readings,
                warnings=state.warnings,
                media_type="text/plain",
                context=context,
            )
        ]


class _State:
    """Walks the lines once, remembering the current block and the last K radius line per eye."""

    def __init__(self) -> None:
        self.block = ""
        self.model: str | None = None
        self.number: str | None = None
        self.captured_at: datetime | None = None
        self.vertex: float | None = None
        self.readings: list[Reading] = []
        self.warnings: list[str] = []
        self._k_mm: tuple[str, float, float, int, float] | None = None
        self._k_seen: set[tuple[str, str]] = set()

    @property
    def series(self) -> dict[str, str]:
        return {"series": self.block} if self.block[1:].islower() else {}

    def feed(self, line: str) -> None:
        if line in BLOCKS:
            self.block, self._k_mm = line, None
            return
        ident = _ID.search(line)
        if ident:
            self.model = self.model or ident.group(1)
            return
        kind = BLOCKS.get(self.block, "")
        if kind == "ref" or self.block == "":
            self._ref_or_header(line)
        elif kind == "kerato":
            self._kerato(line)
        elif kind == "tono":
            self._tono(line)
        elif kind == "pachy":
            self._pachy(line)

    def _ref_or_header(self, line: str) -> None:
        if line.startswith("NO") and line[2:].strip().isdigit():
            self.number = self.number or line[2:].strip()
        elif (date := _DATE.match(line)) is not None:
            try:
                self.captured_at = self.captured_at or datetime.strptime(date.group(1).title(), "%d/%b/%Y.%H:%M")
            except ValueError:
                self.warnings.append(f"unreadable date {date.group(1)!r}")
        elif line.startswith("VD"):
            self.vertex = number(line[2:])
        elif line.startswith("PD"):
            self._pd(line)
        elif (ref := _REF.match(line)) is not None:
            self._refraction(ref)

    def _refraction(self, m: re.Match[str]) -> None:
        source, side, sph, cyl, ax, conf = m.groups()
        sphere, cylinder, axis_deg = float(sph.replace(" ", "")), float(cyl.replace(" ", "")), int(ax)
        if sphere == 0 and cylinder == 0 and axis_deg == 0 and conf is None:
            return  # the device's placeholder for an eye it did not measure
        side_eye = eye(side)
        if side_eye is None or axis_deg > 180:
            self.warnings.append(f"refraction line out of range: {m.group(0)!r}")
            return
        extra: dict[str, object] = dict(self.series)
        if source == "C":
            extra.update(lens="contact", vertex_mm=0.0)
        elif source == "T":
            extra.update(lens="trial", vertex_mm=self.vertex)
        else:
            extra.update(vertex_mm=self.vertex)
        representative = source == "O" and conf is None and not self.series
        self.readings.append(
            Refraction(
                eye=side_eye,
                method="objective",
                sphere=sphere,
                cylinder=cylinder,
                axis=axis_deg,
                confidence=int(conf) if conf is not None else None,
                representative=representative,
                **extra,
            )
        )

    def _pd(self, line: str) -> None:
        far, near = number(line[2:4]), number(line[8:10]) if len(line) >= 10 else None
        if far is not None or near is not None:
            self.readings.append(PupillaryDistance(far_mm=far, near_mm=near))

    def _kerato(self, line: str) -> None:
        if (mm := _K_MM.match(line)) is not None:
            side, r1, r2, ax, avg = mm.groups()
            self._k_mm = (side, float(r1), float(r2), int(ax), float(avg))
            return
        if (d := _K_D.match(line)) is not None and self._k_mm and self._k_mm[0] == d.group(1):
            side, r1_mm, r2_mm, ax, avg_mm = self._k_mm
            self._k_mm = None
            side_eye = eye(side)
            if side_eye is None or (r1_mm == 0 and r2_mm == 0) or ax > 180:
                return
            first = (self.block, side) not in self._k_seen
            self._k_seen.add((self.block, side))
            self.readings.append(
                Keratometry(
                    eye=side_eye,
                    r1_mm=r1_mm,
                    r2_mm=r2_mm,
                    r1_axis=ax,
                    r2_axis=(ax + 90) % 180,  # not sent: the principal meridians are perpendicular
                    avg_mm=avg_mm,
                    r1_d=float(d.group(2)),
                    r2_d=float(d.group(3)),
                    avg_d=float(d.group(5)),
                    cyl_d=float(d.group(6)),
                    representative=first and not self.series,
                    **self.series,
                )
            )
            return
        if line[:1] in ("S", "P") and eye(line[1:2]) is not None:
            self._size(line)

    def _size(self, line: str) -> None:
        side_eye = eye(line[1:2])
        value = number(line[2:6])
        if side_eye is None or value is None or value == 0:
            return
        field = "corneal_diameter_mm" if line[0] == "S" else "pupil_diameter_mm"
        last = self.readings[-1] if self.readings else None
        if isinstance(last, Biometry) and last.eye == side_eye and getattr(last, field, None) is None:
            setattr(last, field, value)  # SL then PL: one biometry reading per eye
            return
        self.readings.append(Biometry(eye=side_eye, **{field: value}))

    def _tono(self, line: str) -> None:
        if (m := _NT.match(line)) is None or (side_eye := eye(m.group(1))) is None:
            return
        shot, avg = number(m.group(3).split("/")[0]), number(m.group(4).split("/")[0])
        if shot is not None:
            self.readings.append(Tonometry(eye=side_eye, iop_mmhg=shot, representative=False, shot=int(m.group(2))))
        if avg is not None:
            self.readings.append(Tonometry(eye=side_eye, iop_mmhg=avg, representative=True))

    def _pachy(self, line: str) -> None:
        if (m := _PM.match(line)) is None or (side_eye := eye(m.group(1))) is None:
            return
        self.readings.append(Pachymetry(eye=side_eye, cct_um=float(m.group(3)), representative=False))
        self.readings.append(Pachymetry(eye=side_eye, cct_um=float(m.group(4)), representative=True))
