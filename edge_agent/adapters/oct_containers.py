"""Proprietary OCT containers: Topcon `.fds`/`.fda` and Heidelberg `.E2E` -> one image reading each.

Detected by magic bytes, never by extension. What the headers reliably give:
- Topcon (3D OCT-1000/2000, Triton, Maestro): `FOCT` + `FDS`/`FDA`, two uint32 versions, then
  chunks `[uint8 name length][name][uint32 size][data]`. `@HW_INFO_03` starts with the model
  (16 bytes) and serial (16 bytes); `@PATIENT_INFO_02` starts with the patient id (32 bytes);
  `@CAPTURE_INFO_02` = eye (uint8, 0 right / 1 left), scan mode, session id, 100-byte label,
  then year, month, day, hour, minute, second (uint16 each). Layout as read by OCT-Converter.
- Heidelberg Spectralis `.E2E`: `CMDb` header then an `MDbMDir` directory; patient and eye
  live in undocumented chunks, so only the container is identified (vendor, modality).
The volume itself is not decoded here; the raw object is the image.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import ClassVar

from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.errors import ParseError
from shared_models import DeviceInfo, Image, PatientRef, QuarantineReason

TOPCON_KINDS = {b"FDS": "topcon_fds", b"FDA": "topcon_fda"}
_EYES = {0: "OD", 1: "OS"}


def _cstr(data: bytes) -> str | None:
    text = data.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
    return text or None


def _chunks(raw: bytes, warnings: list[str]) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    pos = 15
    while pos + 5 <= len(raw):
        length = raw[pos]
        header_end = pos + 1 + length + 4
        if header_end > len(raw):
            break
        name = raw[pos + 1 : pos + 1 + length]
        (size,) = struct.unpack_from("<I", raw, pos + 1 + length)
        if header_end + size > len(raw):
            warnings.append(f"chunk {name.decode('ascii', 'replace')} cut short: file truncated")
            break
        found.setdefault(name, raw[header_end : header_end + size])
        pos = header_end + size
    return found


class TopconFds:
    name: ClassVar[str] = "topcon_fds"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        return 0.95 if raw[:4] == b"FOCT" and raw[4:7] in TOPCON_KINDS else 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        if len(raw) < 15:
            raise ParseError(QuarantineReason.MALFORMED, f"Topcon header cut short ({len(raw)} bytes)")
        warnings: list[str] = []
        chunks = _chunks(raw, warnings)
        hw = chunks.get(b"@HW_INFO_03", b"")
        if not chunks or not hw:
            raise ParseError(QuarantineReason.MALFORMED, "Topcon container without @HW_INFO_03: truncated or damaged")
        patient_id = _cstr(chunks.get(b"@PATIENT_INFO_02", b"")[:32])
        capture = chunks.get(b"@CAPTURE_INFO_02", b"")
        laterality = _EYES.get(capture[0]) if capture else None
        captured_at = None
        if len(capture) >= 118:
            try:
                captured_at = datetime(*struct.unpack_from("<6H", capture, 106))
            except ValueError:
                warnings.append("capture date unreadable")
        image = Image(
            modality="OCT",
            laterality=laterality,
            media_type="application/octet-stream",
            container=TOPCON_KINDS[raw[4:7]],
            has_fundus=b"@IMG_FUNDUS" in chunks,
        )
        return [
            Parsed(
                patient=PatientRef(id=patient_id, id_source="vendor_header" if patient_id else None),
                device=DeviceInfo(vendor="Topcon", model=_cstr(hw[:16]), serial=_cstr(hw[16:32]), kind="oct"),
                captured_at=captured_at,
                readings=[image],
                warnings=warnings,
            )
        ]


class HeidelbergE2e:
    name: ClassVar[str] = "heidelberg_e2e"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        return 0.95 if raw[:4] == b"CMDb" else 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        if b"MDbMDir" not in raw[:0x40]:
            raise ParseError(
                QuarantineReason.MALFORMED, "E2E header without its MDbMDir directory: truncated or damaged"
            )
        image = Image(modality="OCT", media_type="application/octet-stream", container="heidelberg_e2e")
        return [
            Parsed(
                device=DeviceInfo(vendor="Heidelberg Engineering", kind="oct"),
                readings=[image],
                warnings=["E2E patient, eye and date are in undocumented chunks: not extracted"],
            )
        ]
