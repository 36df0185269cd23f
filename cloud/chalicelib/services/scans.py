"""Scan sessions (seed 000, "Scan Upload" and "Scan Review"): a patient opens a session, uploads its 5 photos
straight to the private scans bucket with presigned POST policies, confirms each (the object is checked
to be a real image of an allowed type), and staff list, open and review the clinic's sessions. The
thumbnails Lambda (events/thumbnails.py) records each image's preview here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from chalicelib import aws
from chalicelib.db import patients as patients_db
from chalicelib.db import scans as scans_db
from chalicelib.db import store
from chalicelib.db import tagging as tagging_db
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from chalicelib.models import Page
from chalicelib.services import audit, images, scan_compliance
from chalicelib.services.scope import Scope
from chalicelib.services.tag_set import TagSet, tag_set_of
from chalicelib.settings import get_settings


class ImageType(StrEnum):
    """The 5 photos of a session, each at most once (seed 000's scan wizard)."""

    FRONT = "FRONT"
    LEFT = "LEFT"
    RIGHT = "RIGHT"
    UPPER = "UPPER"
    LOWER = "LOWER"


class ScanStatus(StrEnum):
    PENDING = "PENDING"
    REVIEWED = "REVIEWED"


IMAGES_PER_SESSION = len(ImageType)
UPLOAD_URL_SECONDS = 10 * 60
VIEW_URL_SECONDS = 5 * 60  # staff's GET URLs for thumbnails and full images
OPEN_ATTEMPTS = 5
STATUS_ATTEMPTS = 3  # the clinic's pending counter is shared by its reviews


class ScanSession(BaseModel):
    id: str
    patient_id: str
    status: ScanStatus
    image_count: int
    progress: str  # "x/5"
    created_at: datetime
    updated_at: datetime
    reviewed_at: datetime | None = None
    reviewed_by_id: str | None = None


class ScanImage(BaseModel):
    id: str
    image_type: ImageType
    key: str
    thumbnail_key: str | None = None


class StaffScanImage(ScanImage):
    url: str
    thumbnail_url: str | None = None
    thumbnail_status: str | None = None
    thumbnail_reason: str | None = None
    width: int
    height: int
    content_type: str


class StaffScanSession(ScanSession):
    images: list[StaffScanImage]
    tag_set: TagSet | None = None  # null until the session is tagged (POST /tagging/sessions/{id}/tags)


class UploadTarget(BaseModel):
    method: str
    url: str
    key: str
    headers: dict[str, str] | None = None
    fields: dict[str, str] | None = None
    expires_at: datetime


def _session(item: scans_db.ScanSessionItem) -> ScanSession:
    count = int(item.image_count or 0)
    return ScanSession(
        id=item.session_id,
        patient_id=item.patient_id,
        status=ScanStatus(item.status),
        image_count=count,
        progress=f"{count}/{IMAGES_PER_SESSION}",
        created_at=item.created_at,
        updated_at=item.updated_at,
        reviewed_at=item.reviewed_at,
        reviewed_by_id=item.reviewed_by_id,
    )


def _image(item: scans_db.ScanImageItem) -> ScanImage:
    return ScanImage(
        id=item.image_id, image_type=ImageType(item.image_type), key=item.key, thumbnail_key=item.thumbnail_key
    )


def _own_patient(scope: Scope) -> str:
    if scope.patient_id is None:
        raise Forbidden("only a patient's own token may use the patient portal's scan routes")
    return scope.patient(scope.patient_id)


def object_prefix(clinic_id: str, patient_id: str, session_id: str) -> str:
    return f"scans/{clinic_id}/{patient_id}/{session_id}/"


def object_key(clinic_id: str, patient_id: str, session_id: str, image_type: ImageType, ext: str) -> str:
    return f"{object_prefix(clinic_id, patient_id, session_id)}{image_type.value}.{ext}"


def thumbnail_key(key: str) -> str:
    from chalicelib.resources import THUMBNAIL_SUFFIX

    return key.rsplit(".", 1)[0] + THUMBNAIL_SUFFIX


def _pending_session(scope: Scope, patient_id: str, session_id: str) -> scans_db.ScanSessionItem:
    item = scans_db.get_session(scope.clinic_id, patient_id, session_id)
    if item is None:
        raise NotFound("no scan session with this id", code="not_found", field="session_id")
    if item.status != ScanStatus.PENDING:
        raise Conflict(f"the scan session is {item.status}; uploads are closed", code="session_closed")
    return item


# --- patient side -----------------------------------------------------------------------------------------


def open_session(scope: Scope, *, at: datetime | None = None) -> ScanSession:
    """Opens a PENDING session. The same transaction counts it (tagging's day counter, the clinic's pending
    scans) and moves the patient's scan plan (last scan, due date): the dashboard reads those, never sessions."""
    patient_id = _own_patient(scope)
    session_id, at = uuid.uuid4().hex, at or datetime.now(UTC)
    item = scans_db.new_session(scope.clinic_id, patient_id, session_id, at)
    for attempt in range(OPEN_ATTEMPTS):  # shared counters; a plan moved by a concurrent session or edit
        previous = scan_compliance.plan(scope.clinic_id, patient_id)
        frequency = scan_compliance.DEFAULT_FREQUENCY
        if previous is None:  # an account older than the plans: its first session enrols it
            frequency = scan_compliance.frequency_of(patients_db.load(scope.clinic_id, patient_id))
        plan = scan_compliance.after_scan(previous, patient_id, at, frequency)
        try:
            with audit.change(scope, "scan.session_opened", resource="scan_session", resource_id=session_id,
                              at=at) as c:  # fmt: skip
                c.save(item, condition=scans_db.ScanSessionItem.pk.does_not_exist())
                c.save(scans_db.new_pointer(scope.clinic_id, patient_id, session_id, at))
                # Tagging analytics count sessions from this counter, never by reading sessions.
                tagging_db.count(c, scope.clinic_id, at.date(), {"sessions": 1})
                scan_compliance.pending(c, scope.clinic_id, +1)
                scan_compliance.scanned(c, scope.clinic_id, plan, previous)
                c.emit("scan.session_opened", session_id=session_id, patient_id=patient_id)
            break
        except (store.Contention, store.ConditionFailed):
            if attempt == OPEN_ATTEMPTS - 1:
                raise Unavailable("the clinic's scan counters are busy; try again", code="scans_busy") from None
    return _session(item)


def own_sessions(scope: Scope, *, limit: int, next_token: str | None) -> Page[ScanSession]:
    patient_id = _own_patient(scope)
    found = scans_db.patient_sessions(scope.clinic_id, patient_id, limit=limit, next_token=next_token)
    items = [_session(item) for item in found.items]
    audit.read(scope, "scan_session", [item.id for item in items])
    return Page[ScanSession](items=items, next=found.next)


def upload_target(
    scope: Scope, session_id: str, image_type: ImageType, content_type: str, *, expires_in: int = UPLOAD_URL_SECONDS
) -> UploadTarget:
    """A presigned POST policy for this one key: the content type is fixed, the size 1 byte..25 MB, 10 minutes."""
    patient_id = _own_patient(scope)
    if content_type not in images.CONTENT_TYPES:
        raise InvalidInput(
            f"content_type must be one of {', '.join(images.CONTENT_TYPES)}", code="unsupported_type",
            field="content_type",
        )  # fmt: skip
    _pending_session(scope, patient_id, session_id)
    if scans_db.get_image(scope.clinic_id, patient_id, session_id, image_type) is not None:
        raise Conflict(f"the {image_type.value} image of this session is already uploaded", code="image_exists",
                       field="image_type")  # fmt: skip
    ext = images.CONTENT_TYPES[content_type][0]
    key = object_key(scope.clinic_id, patient_id, session_id, image_type, ext)
    settings = get_settings()
    post = presigned_post(aws.client("s3", settings), settings.names.scans_bucket, key, content_type, expires_in)
    audit.read(scope, "scan_upload_url", [session_id])
    return UploadTarget(
        method="POST",
        url=post["url"],
        key=key,
        fields=post["fields"],
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
    )


def presigned_post(s3: Any, bucket: str, key: str, content_type: str, expires_in: int) -> dict[str, Any]:
    """S3 SigV4 POST policy: exactly this key, this Content-Type, 1..25 MB (S3 refuses anything else)."""
    answer: dict[str, Any] = s3.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, images.MAX_UPLOAD_BYTES]],
        ExpiresIn=expires_in,
    )
    return answer


def confirm_upload(scope: Scope, session_id: str, image_type: ImageType, key: str) -> ScanImage:
    """Records an uploaded image once it is checked: the object exists under this session's key for this
    type, holds ≤ 25 MB, and is a complete image of the type its extension names. Confirming again
    answers the same image (idempotent); the image and the session's count are one transaction."""
    patient_id = _own_patient(scope)
    _pending_session(scope, patient_id, session_id)
    existing = scans_db.get_image(scope.clinic_id, patient_id, session_id, image_type)
    if existing is not None:
        return _confirmed_again(existing, key)
    expected_prefix = f"{object_prefix(scope.clinic_id, patient_id, session_id)}{image_type.value}."
    ext = key[len(expected_prefix) :] if key.startswith(expected_prefix) else ""
    if ext not in images.EXTENSIONS:
        raise InvalidInput("key is not this session's upload key for this image type", code="invalid_key", field="key")
    data, size, content_type = _fetch_upload(key)
    try:
        info = images.inspect(data, images.EXTENSIONS[ext])
    except images.ImageRejected as exc:
        raise InvalidInput(exc.message, code=exc.code, field="key") from None
    at = datetime.now(UTC)
    image_id = uuid.uuid4().hex
    item = scans_db.image_key(scope.clinic_id, patient_id, session_id, image_type)
    item.image_id, item.session_id, item.image_type, item.key = image_id, session_id, image_type.value, key
    item.content_type, item.size, item.width, item.height = content_type, size, info.width, info.height
    item.created_at = at
    # The thumbnails Lambda usually runs before the patient confirms (it reacts to the upload itself):
    # link the preview it already wrote beside the original.
    if _exists(thumbnail_key(key)):
        item.thumbnail_key, item.thumbnail_status = thumbnail_key(key), "ready"
    Session = scans_db.ScanSessionItem
    try:
        with audit.change(scope, "scan.image_confirmed", resource="scan_session", resource_id=session_id, at=at,
                          image_type=image_type.value) as c:  # fmt: skip
            c.save(item, condition=scans_db.ScanImageItem.pk.does_not_exist())
            c.update(
                scans_db.session_key(scope.clinic_id, patient_id, session_id),
                actions=[Session.image_count.add(1), Session.updated_at.set(at)],
                condition=(Session.status == ScanStatus.PENDING.value) & (Session.image_count < IMAGES_PER_SESSION),
            )
            c.emit("scan.image_uploaded", session_id=session_id, image_type=image_type.value)
    except store.ConditionFailed as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":  # a concurrent confirm won
            again = scans_db.get_image(scope.clinic_id, patient_id, session_id, image_type)
            if again is not None:
                return _confirmed_again(again, key)
        raise Conflict("the scan session closed while the image was confirmed", code="session_closed") from None
    return _image(item)


def _confirmed_again(existing: scans_db.ScanImageItem, key: str) -> ScanImage:
    if existing.key != key:
        raise Conflict(
            f"the {existing.image_type} image of this session is already confirmed with another key",
            code="image_exists", field="image_type",
        )  # fmt: skip
    return _image(existing)


def _exists(key: str) -> bool:
    settings = get_settings()
    try:
        aws.client("s3", settings).head_object(Bucket=settings.names.scans_bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def _fetch_upload(key: str) -> tuple[bytes, int, str]:
    settings = get_settings()
    s3 = aws.client("s3", settings)
    bucket = settings.names.scans_bucket
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
            raise InvalidInput("nothing was uploaded under this key", code="upload_missing", field="key") from None
        raise
    size = int(head.get("ContentLength") or 0)
    if size > images.MAX_UPLOAD_BYTES:
        raise InvalidInput(f"the upload exceeds {images.MAX_UPLOAD_BYTES} bytes", code="upload_too_large", field="key")
    if size == 0:
        raise InvalidInput("the uploaded object is empty (0 bytes)", code="empty_upload", field="key")
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read(images.MAX_UPLOAD_BYTES + 1)
    return body, size, str(head.get("ContentType") or "")


# --- staff side -------------------------------------------------------------------------------------------


def clinic_sessions(scope: Scope, status: ScanStatus, *, limit: int, next_token: str | None) -> Page[ScanSession]:
    found = scans_db.clinic_sessions(scope.clinic_id, status.value, limit=limit, next_token=next_token)
    items = [_session(item) for item in found.items]
    audit.read(scope, "scan_session", [item.id for item in items])
    return Page[ScanSession](items=items, next=found.next)


def _locate(scope: Scope, session_id: str) -> str:
    patient_id = scans_db.patient_of(scope.clinic_id, session_id)
    if patient_id is None:
        raise NotFound("no scan session with this id in your clinic", code="not_found")
    return scope.patient(patient_id)


def staff_session(scope: Scope, session_id: str) -> StaffScanSession:
    patient_id = _locate(scope, session_id)
    session, found, tags = tagging_db.session_view(scope.clinic_id, patient_id, session_id)
    if session is None:
        raise NotFound("no scan session with this id in your clinic", code="not_found")
    settings = get_settings()
    s3, bucket = aws.client("s3", settings), settings.names.scans_bucket

    def url(key: str) -> str:
        return str(
            s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=VIEW_URL_SECONDS)
        )

    order = list(ImageType)
    staff_images = [
        StaffScanImage(
            **_image(item).model_dump(),
            url=url(item.key),
            thumbnail_url=url(item.thumbnail_key) if item.thumbnail_key else None,
            thumbnail_status=item.thumbnail_status,
            thumbnail_reason=item.thumbnail_reason,
            width=int(item.width),
            height=int(item.height),
            content_type=item.content_type,
        )
        for item in sorted(found, key=lambda image: order.index(ImageType(image.image_type)))
    ]
    audit.read(scope, "scan_session", [session_id])
    tag_set = tag_set_of(tags) if tags else None
    return StaffScanSession(**_session(session).model_dump(), images=staff_images, tag_set=tag_set)


def set_status(scope: Scope, session_id: str, status: ScanStatus) -> ScanSession:
    """PENDING → REVIEWED (reviewed_at, reviewed_by_id set; `scan.reviewed` raised) or back (reopened)."""
    patient_id = _locate(scope, session_id)
    current = scans_db.get_session(scope.clinic_id, patient_id, session_id)
    if current is None:
        raise NotFound("no scan session with this id in your clinic", code="not_found")
    if current.status == status.value:
        raise Conflict(f"the scan session is already {status.value}", code="status_unchanged", field="status")
    at = datetime.now(UTC)
    Session = scans_db.ScanSessionItem
    actions: list[Any] = [
        Session.status.set(status.value),
        Session.updated_at.set(at),
        Session.gsi1pk.set(scans_db.status_pk(scope.clinic_id, status.value)),
    ]
    if status is ScanStatus.REVIEWED:
        actions += [Session.reviewed_at.set(at), Session.reviewed_by_id.set(scope.user_id or scope.actor)]
    else:
        actions += [Session.reviewed_at.remove(), Session.reviewed_by_id.remove()]
    for attempt in range(STATUS_ATTEMPTS):
        try:
            with audit.change(scope, "scan.status_changed", resource="scan_session", resource_id=session_id, at=at,
                              status=status.value) as c:  # fmt: skip
                c.update(
                    scans_db.session_key(scope.clinic_id, patient_id, session_id),
                    actions=actions,
                    condition=Session.status == current.status,
                )
                # The dashboard's pending count moves with the status, in the same transaction.
                scan_compliance.pending(c, scope.clinic_id, -1 if status is ScanStatus.REVIEWED else +1)
                if status is ScanStatus.REVIEWED:
                    c.emit("scan.reviewed", session_id=session_id, patient_id=patient_id)
                else:
                    c.emit("scan.reopened", session_id=session_id, patient_id=patient_id)
            break
        except store.ConditionFailed:
            raise Conflict("the scan session changed meanwhile; reload it", code="status_changed") from None
        except store.Contention:
            if attempt == STATUS_ATTEMPTS - 1:
                raise Unavailable("the clinic's scan counters are busy; try again", code="scans_busy") from None
    updated = scans_db.get_session(scope.clinic_id, patient_id, session_id)
    assert updated is not None
    return _session(updated)


# --- thumbnails (back end) -------------------------------------------------------------------------------


def record_thumbnail(
    clinic_id: str, patient_id: str, session_id: str, image_type: str, *, key: str | None, reason: str | None
) -> bool:
    """Records the thumbnail of a confirmed image (or why there is none). False when no such image is
    recorded (yet): the upload was not confirmed, the thumbnail will not be linked (it is still beside it)."""
    scope = Scope.system(clinic_id, "system:thumbnails")
    Image = scans_db.ScanImageItem
    target = scans_db.image_key(clinic_id, patient_id, session_id, image_type)
    actions: list[Any]
    if key is not None:
        actions = [Image.thumbnail_key.set(key), Image.thumbnail_status.set("ready"), Image.thumbnail_reason.remove()]
    else:
        actions = [Image.thumbnail_status.set("thumbnail_failed"), Image.thumbnail_reason.set(reason or "unknown")]
    action = "scan.thumbnail_made" if key else "scan.thumbnail_failed"
    try:
        with audit.change(scope, action, resource="scan_session", resource_id=session_id, image_type=image_type) as c:
            c.update(target, actions=actions, condition=Image.pk.exists())
    except store.ConditionFailed:
        return False
    return True
