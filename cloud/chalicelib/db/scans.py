"""Scan sessions repository: a patient's 5-photo sessions and their images (clinical table) and the clinic's
pointer from a session id to its patient (directory table), so staff open a session by id alone.

    clinical   CLINIC#c#PATIENT#p / SCAN#{session}                 the session (status, image_count, review)
               CLINIC#c#PATIENT#p / SCAN#{session}#IMAGE#{type}    one per confirmed image (key, thumbnail)
               by_type  SCAN#{created}#{session}                   the patient's sessions, newest first
               gsi1     CLINIC#c#SCANS#{status} / {created}#{session}   the clinic's sessions by status, oldest first
    directory  CLINIC#c / SCANSESSION#{session}                    → patient id, created_at
               gsi1     CLINIC#c#SCANSESSIONS / {created}#{session}   the clinic's sessions, any status, by time
                                                                     (the dashboard's feed: newest first)
               CLINIC#c / PREVIEW#{sha256}                         a device image's preview (or why none)
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store


class ScanSessionItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    by_type = store.ByType()
    gsi1 = store.Gsi1()
    session_id = UnicodeAttribute()
    clinic_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    status = UnicodeAttribute()
    image_count = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    reviewed_at = UTCDateTimeAttribute(null=True)
    reviewed_by_id = UnicodeAttribute(null=True)


class ScanImageItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    image_id = UnicodeAttribute()
    session_id = UnicodeAttribute()
    image_type = UnicodeAttribute()
    key = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    width = NumberAttribute()
    height = NumberAttribute()
    created_at = UTCDateTimeAttribute()
    thumbnail_key = UnicodeAttribute(null=True)
    thumbnail_status = UnicodeAttribute(null=True)  # None (pending), "ready", "thumbnail_failed"
    thumbnail_reason = UnicodeAttribute(null=True)


class ScanSessionPointer(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    patient_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(null=True)  # null on pointers written before the feed existed


class DevicePreviewItem(store.DirectoryItem):
    """The preview of a raw device image (ingest bucket), by the raw object's sha256: readings name the raw
    key, so staff's reading lists find the preview with one BatchGet whatever order the events came in."""

    class Meta:
        table_name = store.UNBOUND

    raw_key = UnicodeAttribute()
    thumbnail_key = UnicodeAttribute(null=True)
    thumbnail_status = UnicodeAttribute()  # "ready" | "thumbnail_failed"
    thumbnail_reason = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()


ITEMS = (ScanSessionItem, ScanImageItem, ScanSessionPointer, DevicePreviewItem)


def preview_sk(sha256: str) -> str:
    return f"PREVIEW#{keys.segment(sha256)}"


def put_preview(item: DevicePreviewItem) -> None:
    store.bound()
    item.save()


def new_preview(
    clinic_id: str, sha256: str, raw_key: str, *, thumbnail_key: str | None, reason: str | None, at: datetime
) -> DevicePreviewItem:
    return DevicePreviewItem(
        keys.clinic_pk(clinic_id),
        preview_sk(sha256),
        raw_key=raw_key,
        thumbnail_key=thumbnail_key,
        thumbnail_status="ready" if thumbnail_key else "thumbnail_failed",
        thumbnail_reason=reason,
        at=at,
    )


def previews(clinic_id: str, sha256s: list[str]) -> dict[str, DevicePreviewItem]:
    """The previews recorded for these raw objects: one BatchGetItem (≤ 100 keys)."""
    if not sha256s:
        return {}
    store.bound()
    wanted = list(dict.fromkeys(sha256s))[:100]
    found = DevicePreviewItem.batch_get([(keys.clinic_pk(clinic_id), preview_sk(sha)) for sha in wanted])
    return {item.sk.split("#", 1)[1]: item for item in found}


def session_sk(session_id: str) -> str:
    return f"SCAN#{keys.segment(session_id)}"


def image_sk(session_id: str, image_type: str) -> str:
    return f"{session_sk(session_id)}#IMAGE#{image_type}"


def status_pk(clinic_id: str, status: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#SCANS#{status}"


def pointer_sk(session_id: str) -> str:
    return f"SCANSESSION#{keys.segment(session_id)}"


def new_session(clinic_id: str, patient_id: str, session_id: str, at: datetime) -> ScanSessionItem:
    created = keys.sortable_time(at)
    return ScanSessionItem(
        keys.patient_pk(clinic_id, patient_id),
        session_sk(session_id),
        type_sk=f"SCAN#{created}#{session_id}",
        gsi1pk=status_pk(clinic_id, "PENDING"),
        gsi1sk=f"{created}#{session_id}",
        session_id=session_id,
        clinic_id=clinic_id,
        patient_id=patient_id,
        status="PENDING",
        image_count=0,
        created_at=at,
        updated_at=at,
    )


def _clinic_sessions_by_time(clinic_id: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#SCANSESSIONS"


def new_pointer(clinic_id: str, patient_id: str, session_id: str, at: datetime) -> ScanSessionPointer:
    return ScanSessionPointer(
        keys.clinic_pk(clinic_id), pointer_sk(session_id), gsi1pk=_clinic_sessions_by_time(clinic_id),
        gsi1sk=f"{keys.sortable_time(at)}#{session_id}", patient_id=patient_id, created_at=at,
    )  # fmt: skip


def session_key(clinic_id: str, patient_id: str, session_id: str) -> ScanSessionItem:
    """An item naming only the session's key (for updates and condition checks)."""
    return ScanSessionItem(keys.patient_pk(clinic_id, patient_id), session_sk(session_id))


def image_key(clinic_id: str, patient_id: str, session_id: str, image_type: str) -> ScanImageItem:
    return ScanImageItem(keys.patient_pk(clinic_id, patient_id), image_sk(session_id, image_type))


def get_session(clinic_id: str, patient_id: str, session_id: str) -> ScanSessionItem | None:
    return store.get(ScanSessionItem, keys.patient_pk(clinic_id, patient_id), session_sk(session_id))


def get_image(clinic_id: str, patient_id: str, session_id: str, image_type: str) -> ScanImageItem | None:
    return store.get(ScanImageItem, keys.patient_pk(clinic_id, patient_id), image_sk(session_id, image_type))


def patient_of(clinic_id: str, session_id: str) -> str | None:
    pointer = store.get(ScanSessionPointer, keys.clinic_pk(clinic_id), pointer_sk(session_id))
    return pointer.patient_id if pointer else None


def patient_sessions(
    clinic_id: str, patient_id: str, *, limit: int, next_token: str | None
) -> store.Page[ScanSessionItem]:
    return store.query_page(
        ScanSessionItem, keys.patient_pk(clinic_id, patient_id), index="by_type", prefix="SCAN#",
        newest_first=True, limit=limit, next_token=next_token,
    )  # fmt: skip


def clinic_sessions(clinic_id: str, status: str, *, limit: int, next_token: str | None) -> store.Page[ScanSessionItem]:
    return store.query_page(
        ScanSessionItem, status_pk(clinic_id, status), index="gsi1", limit=limit, next_token=next_token
    )


def recent_sessions(clinic_id: str, *, limit: int) -> list[ScanSessionItem]:
    """The clinic's most recently opened sessions, newest first, whatever their status: one Query of the pointers'
    `gsi1`, then one BatchGetItem of those sessions (their status and image count change after opening)."""
    pointers = store.query_page(ScanSessionPointer, _clinic_sessions_by_time(clinic_id), index="gsi1",
                                newest_first=True, limit=limit, next_token=None).items  # fmt: skip
    if not pointers:
        return []
    wanted = [(keys.patient_pk(clinic_id, row.patient_id), session_sk(row.sk.removeprefix("SCANSESSION#")))
              for row in pointers]  # fmt: skip
    found = {(row.pk, row.sk): row for row in ScanSessionItem.batch_get(wanted, consistent_read=True)}
    return [found[key] for key in wanted if key in found]
