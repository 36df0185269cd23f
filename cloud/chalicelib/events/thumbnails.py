"""The `thumbnails` Lambda: SQS batch of S3 notifications from the scans bucket → a WebP preview ≤ 300x300
beside each original (`…/FRONT.jpg` → `…/FRONT.thumb.webp`), recorded on the scan image.

Wired in app.py as `@app.lambda_function(name="thumbnails")`; infra attaches the thumbnails queue with
ReportBatchItemFailures. A bad or truncated image is not a failure of the batch: the image is marked
`thumbnail_failed` with the reason and the message is done. Only transient trouble (S3 or DynamoDB
unreachable) fails a record, which is retried and reaches the DLQ after `DLQ_MAX_RECEIVE_COUNT` receives.
Pillow is imported on the first image, not at cold start.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import RejectedMessage
from chalicelib.events import s3_notification
from chalicelib.resources import THUMBNAIL_SUFFIX
from chalicelib.services import images, previews, scans
from chalicelib.settings import get_settings

# Device images are read whole up to this size (a multi-frame DICOM can be large; the preview is its first frame).
MAX_DEVICE_IMAGE_BYTES = 200 * 1024 * 1024
SNIFF_BYTES = 132  # a DICOM's preamble + "DICM"; JPEG and PNG announce themselves in fewer
# scans/{clinic}/{patient}/{session}/{TYPE}.{ext}
_SCAN_KEY = re.compile(r"^scans/([^/]+)/([^/]+)/([0-9a-f]{32})/([A-Z]+)\.([a-z]+)$")

logger = Logger(service="medflow-thumbnails")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def make_thumbnail(bucket: str, key: str) -> tuple[str | None, str | None]:
    """Writes the preview of s3://bucket/key beside it. (thumbnail key, None) or (None, reason)."""
    s3 = aws.client("s3", get_settings())
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"NoSuchKey", "404"}:
            return None, "missing_object: the original is gone"
        raise
    if int(response.get("ContentLength") or 0) > images.MAX_UPLOAD_BYTES:
        return None, f"too_large: the original exceeds {images.MAX_UPLOAD_BYTES} bytes"
    data: bytes = response["Body"].read()
    try:
        webp, _ = images.thumbnail(data)
    except images.ImageRejected as exc:
        return None, f"{exc.code}: {exc.message}"
    target = scans.thumbnail_key(key)
    s3.put_object(Bucket=bucket, Key=target, Body=webp, ContentType="image/webp")
    return target, None


def device_preview(bucket: str, key: str) -> None:
    """A raw object of the ingest bucket: DICOM, JPEG and PNG get a preview under previews/ and a record;
    anything else (XML, HL7, PDF ...) is left alone after reading its first bytes."""
    parsed = previews.parse_raw_key(key)
    if parsed is None:
        return
    clinic_id, sha256 = parsed
    s3 = aws.client("s3", get_settings())
    try:
        head = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{SNIFF_BYTES - 1}")["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"NoSuchKey", "404", "InvalidRange"}:
            return  # gone, or empty
        raise
    if images.sniff(head + b"\0" * max(0, SNIFF_BYTES + 1 - len(head))) not in {"dicom", "jpeg", "png"}:
        return
    response = s3.get_object(Bucket=bucket, Key=key)
    if int(response.get("ContentLength") or 0) > MAX_DEVICE_IMAGE_BYTES:
        previews.record(clinic_id, sha256, key, thumbnail_key=None, reason="too_large: the raw image is too large")
        return
    try:
        webp, _ = images.thumbnail(response["Body"].read())
    except images.ImageRejected as exc:
        previews.record(clinic_id, sha256, key, thumbnail_key=None, reason=f"{exc.code}: {exc.message}")
        logger.info("thumbnail_failed", extra={"key": key, "reason": exc.code})
        return
    target = previews.preview_key(clinic_id, sha256)
    s3.put_object(Bucket=bucket, Key=target, Body=webp, ContentType="image/webp")
    previews.record(clinic_id, sha256, key, thumbnail_key=target, reason=None)
    logger.info("thumbnail", extra={"key": key})


def record_handler(record: SQSRecord) -> None:
    notification = s3_notification.parse(record.body)
    if notification.event == s3_notification.TEST_EVENT:
        return
    settings = get_settings()
    for s3_record in notification.records:
        bucket, key = s3_record.s3.bucket.name, s3_record.key
        if bucket not in {settings.names.scans_bucket, settings.names.bucket}:
            raise RejectedMessage(f"notification from unexpected bucket {bucket!r}", code="unexpected_bucket")
        if not s3_record.event_name.startswith("ObjectCreated") or key.endswith(THUMBNAIL_SUFFIX):
            continue  # our own previews are announced too
        if bucket == settings.names.bucket:
            device_preview(bucket, key)
            continue
        match = _SCAN_KEY.match(key)
        if match is None:
            logger.warning("ignored object outside the scan layout", extra={"key": key})
            continue
        clinic_id, patient_id, session_id, image_type, _ = match.groups()
        thumbnail, reason = make_thumbnail(bucket, key)
        linked = scans.record_thumbnail(clinic_id, patient_id, session_id, image_type, key=thumbnail, reason=reason)
        # Not linked: the upload is not confirmed yet; confirm links the preview it finds beside the original.
        logger.info(
            "thumbnail" if thumbnail else "thumbnail_failed",
            extra={"key": key, "linked": linked, "reason": reason, "message_id": record.message_id},
        )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
