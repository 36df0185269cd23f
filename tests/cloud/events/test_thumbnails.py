"""The thumbnails Lambda on in-process moto: real JPEG/PNG/EXIF-rotated/truncated images made with Pillow and a corpus
DICOM → a WebP ≤ 300x300 beside the original, recorded on the scan image; bad images marked, never a failed batch."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from chalicelib.events.thumbnails import lambda_handler
from chalicelib.resources import ResourceNames
from chalicelib.services import images, scans
from chalicelib.services.scope import Scope
from localdev.router import FakeLambdaContext
from tests.cloud.builders import REGION, s3_notification, sqs_event
from tests.cloud.images import photo, truncated

CLINIC, PATIENT = "clinic-thumbs", "P-THUMB"


class _Patient:
    """A scope for PATIENT as the request edge would build it (patient token)."""

    @staticmethod
    def scope() -> Scope:
        from chalicelib.services.roles import Role
        from chalicelib.services.scope import Origin
        from chalicelib.services.tokens import Principal

        principal = Principal(user_id="pu", clinic_id=CLINIC, role=Role.PATIENT, token_id="t", patient_id=PATIENT)
        return Scope.of_request(principal, Origin())


def _s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def _put(names: ResourceNames, session_id: str, image_type: str, data: bytes, ext: str = "jpg") -> str:
    key = f"scans/{CLINIC}/{PATIENT}/{session_id}/{image_type}.{ext}"
    _s3().put_object(Bucket=names.scans_bucket, Key=key, Body=data)
    return key


def _run(names: ResourceNames, *keys: str) -> dict[str, Any]:
    return dict(lambda_handler(sqs_event(*(s3_notification(names.scans_bucket, k) for k in keys)), FakeLambdaContext()))


def _webp(names: ResourceNames, key: str) -> Image.Image:
    body = _s3().get_object(Bucket=names.scans_bucket, Key=key)["Body"].read()
    assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
    return Image.open(io.BytesIO(body))


@pytest.fixture
def confirmed(cloud: ResourceNames) -> tuple[ResourceNames, str]:
    """A session with nothing confirmed yet (the test confirms what it needs)."""
    session = scans.open_session(_Patient.scope())
    return cloud, session.id


def _image(session_id: str, image_type: str) -> Any:
    from chalicelib.db import scans as scans_db

    return scans_db.get_image(CLINIC, PATIENT, session_id, image_type)


def test_jpeg_png_and_rotated_photos_get_webp_previews(confirmed: tuple[ResourceNames, str]) -> None:
    names, session_id = confirmed
    scope = _Patient.scope()
    front = _put(names, session_id, "FRONT", photo((4000, 3000)))
    left = _put(names, session_id, "LEFT", photo((200, 100), "PNG"), "png")
    right = _put(names, session_id, "RIGHT", photo((1200, 600), orientation=6))  # 90° clockwise on display
    for image_type, key in (("FRONT", front), ("LEFT", left), ("RIGHT", right)):
        scans.confirm_upload(scope, session_id, scans.ImageType(image_type), key)

    assert _run(names, front, left, right)["batchItemFailures"] == []

    big = _webp(names, scans.thumbnail_key(front))
    assert big.size == (300, 225)  # fitted inside, aspect kept
    small = _webp(names, scans.thumbnail_key(left))
    assert small.size == (200, 100)  # never enlarged
    rotated = _webp(names, scans.thumbnail_key(right))
    assert rotated.size == (150, 300)  # EXIF orientation applied: portrait now
    assert not rotated.getexif() and "exif" not in rotated.info and "icc_profile" not in rotated.info
    # the photo's top-left quadrant is red; rotated 90° clockwise it is at the top right
    assert rotated.convert("RGB").getpixel((140, 10))[0] > 150
    for image_type in ("FRONT", "LEFT", "RIGHT"):
        recorded = _image(session_id, image_type)
        assert recorded.thumbnail_status == "ready" and recorded.thumbnail_key.endswith(".thumb.webp")


def test_truncated_image_is_marked_failed_and_the_batch_succeeds(confirmed: tuple[ResourceNames, str]) -> None:
    names, session_id = confirmed
    good = _put(names, session_id, "FRONT", photo())
    scans.confirm_upload(_Patient.scope(), session_id, scans.ImageType.FRONT, good)
    # a confirmed image whose object is later replaced by a broken one (confirm would refuse it up front)
    _put(names, session_id, "FRONT", truncated(photo((800, 600))))
    answer = _run(names, good)
    assert answer["batchItemFailures"] == []
    recorded = _image(session_id, "FRONT")
    assert recorded.thumbnail_status == "thumbnail_failed"
    assert recorded.thumbnail_reason.startswith("undecodable_image")
    assert recorded.thumbnail_key is None


def test_preview_before_confirm_is_linked_by_confirm(confirmed: tuple[ResourceNames, str]) -> None:
    names, session_id = confirmed
    key = _put(names, session_id, "UPPER", photo())
    assert _run(names, key)["batchItemFailures"] == []  # the upload's event usually beats the confirm
    image = scans.confirm_upload(_Patient.scope(), session_id, scans.ImageType.UPPER, key)
    assert image.thumbnail_key == scans.thumbnail_key(key)


def test_own_previews_and_foreign_keys_are_skipped_and_transient_errors_fail_only_their_record(
    confirmed: tuple[ResourceNames, str],
) -> None:
    names, session_id = confirmed
    good = _put(names, session_id, "LOWER", photo())
    body_of_missing_bucket = s3_notification("some-other-bucket", good)
    event = sqs_event(
        s3_notification(names.scans_bucket, scans.thumbnail_key(good)),
        s3_notification(names.scans_bucket, "scans/elsewhere/readme.txt"),
        body_of_missing_bucket,
        s3_notification(names.scans_bucket, good),
        "not json at all",
    )
    answer = lambda_handler(event, FakeLambdaContext())
    assert sorted(item["itemIdentifier"] for item in answer["batchItemFailures"]) == ["m2", "m4"]
    assert _webp(names, scans.thumbnail_key(good)).size == (300, 225)


def test_corpus_dicom_first_frame_preview(corpus_dir: Path) -> None:
    """A device image (DICOM OP, JPEG Baseline) previews like a photo: 8-bit, ≤ 300x300, WebP."""
    data = (corpus_dir / "ophthalmic" / "pontikos-lab__process-dcm__eye.dcm").read_bytes()
    assert images.sniff(data) == "dicom"
    webp, size = images.thumbnail(data)
    preview = Image.open(io.BytesIO(webp))
    assert preview.format == "WEBP" and preview.size == size and max(size) <= 300
    assert sum(1 for count in preview.convert("L").histogram() if count) > 16  # a real picture, not a flat window
    # a DICOM without pixels is a clear refusal, not a crash
    raw_only = (corpus_dir / "ophthalmic" / "pontikos-lab__process-dcm__OT.dcm").read_bytes()
    with pytest.raises(images.ImageRejected) as refused:
        images.thumbnail(raw_only)
    assert refused.value.code == "undecodable_image"
