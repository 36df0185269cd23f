"""Previews of device images (raw DICOM/JPEG/PNG objects the edge agent uploads): the thumbnails Lambda records
them, and staff's reading lists show them on each image reading (`thumbnail_key`, `thumbnail_status`).

A raw object is named by its sha256 (`raw/{clinic}/{yyyy}/{mm}/{dd}/{sha256}{ext}`); its preview is
`previews/{clinic}/{sha256}.thumb.webp` in the same bucket, recorded as `CLINIC#c / PREVIEW#{sha256}`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from chalicelib.db import scans as scans_db
from chalicelib.models import StoredReading
from chalicelib.resources import PREVIEWS_PREFIX, THUMBNAIL_SUFFIX

_RAW_KEY = re.compile(r"^raw/([^/]+)/\d{4}/\d{2}/\d{2}/([0-9a-f]{64})(\.[a-z0-9]{1,10})?$")


def parse_raw_key(key: str) -> tuple[str, str] | None:
    """(clinic, sha256) of a raw object's key, or None."""
    match = _RAW_KEY.match(key)
    return (match.group(1), match.group(2)) if match else None


def preview_key(clinic_id: str, sha256: str) -> str:
    return f"{PREVIEWS_PREFIX}{clinic_id}/{sha256}{THUMBNAIL_SUFFIX}"


def record(clinic_id: str, sha256: str, raw_key: str, *, thumbnail_key: str | None, reason: str | None) -> None:
    """Records the preview (or why there is none); writing it again replaces it (idempotent)."""
    item = scans_db.new_preview(
        clinic_id, sha256, raw_key, thumbnail_key=thumbnail_key, reason=reason, at=datetime.now(UTC)
    )
    scans_db.put_preview(item)


def attach(clinic_id: str, readings: list[StoredReading]) -> list[StoredReading]:
    """The readings, image readings carrying their preview when one is recorded (one BatchGet, none
    when the page has no image readings)."""
    wanted: dict[int, str] = {}
    for position, reading in enumerate(readings):
        if reading.kind != "image":
            continue
        parsed = parse_raw_key(str(reading.reading.get("key") or reading.raw_key))
        if parsed and parsed[0] == clinic_id:
            wanted[position] = parsed[1]
    found = scans_db.previews(clinic_id, list(wanted.values()))
    out = list(readings)
    for position, sha in wanted.items():
        preview = found.get(sha)
        if preview is not None:
            out[position] = readings[position].model_copy(
                update={
                    "thumbnail_key": preview.thumbnail_key,
                    "thumbnail_status": preview.thumbnail_status,
                    "thumbnail_reason": preview.thumbnail_reason,
                }
            )
    return out
