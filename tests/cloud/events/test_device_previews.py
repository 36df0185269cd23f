"""Previews of device images: a raw corpus DICOM (and a JPEG photo) uploaded by the edge agent → thumbnails Lambda →
WebP under previews/ → shown on the image reading staff read at GET /patients/{id}/readings, whichever event
came first; other raw files are left alone, broken images recorded as thumbnail_failed."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import boto3
from chalice.test import Client
from PIL import Image

from chalicelib.events import ingest as ingest_events
from chalicelib.events.thumbnails import lambda_handler
from chalicelib.resources import ResourceNames
from chalicelib.services import previews
from chalicelib.services.roles import Role
from localdev.router import FakeLambdaContext
from shared_models import Image as ImageReading
from shared_models import RawObject
from shared_models.s3keys import raw_key
from tests.cloud.builders import RECEIVED, REGION, bearer, make_envelope, put_envelope, s3_notification, sqs_event
from tests.cloud.images import photo, truncated


def _put_raw(names: ResourceNames, data: bytes, ext: str) -> tuple[str, str]:
    sha = hashlib.sha256(data).hexdigest()
    key = raw_key("demo", RECEIVED, sha, ext)
    boto3.client("s3", region_name=REGION).put_object(Bucket=names.bucket, Key=key, Body=data)
    return key, sha


def _ingest_image(names: ResourceNames, patient_id: str, key: str, sha: str, media_type: str) -> None:
    base = make_envelope(patient_id=patient_id, seed=sha)
    envelope = base.model_copy(
        update={
            "envelope_id": sha,
            "raw": RawObject(key=key, sha256=sha, size=1, media_type=media_type, original_name="capture"),
            "readings": [ImageReading(modality="OP", key=key, media_type=media_type)],
        }
    )
    event = sqs_event(s3_notification(names.bucket, put_envelope(names, envelope)))
    assert ingest_events.lambda_handler(event, FakeLambdaContext())["batchItemFailures"] == []


def _previews(names: ResourceNames, *keys: str) -> dict[str, Any]:
    return dict(lambda_handler(sqs_event(*(s3_notification(names.bucket, k) for k in keys)), FakeLambdaContext()))


def _image_readings(patient_id: str) -> list[dict[str, Any]]:
    from app import app

    with Client(app) as client:
        response = client.http.get(f"/patients/{patient_id}/readings", headers=bearer("demo", Role.DOCTOR))
    assert response.status_code == 200, response.body
    return [item for item in response.json_body["items"] if item["kind"] == "image"]


def test_corpus_dicom_and_a_photo_get_previews_shown_on_their_readings(cloud: ResourceNames, corpus_dir: Path) -> None:
    dicom = (corpus_dir / "ophthalmic" / "pontikos-lab__process-dcm__eye.dcm").read_bytes()
    dicom_key, dicom_sha = _put_raw(cloud, dicom, "")  # extensionless, as many devices write them
    photo_key, photo_sha = _put_raw(cloud, photo((2000, 1000)), ".jpg")
    _ingest_image(cloud, "P-IMG", dicom_key, dicom_sha, "application/dicom")  # the envelope first ...
    assert _previews(cloud, dicom_key, photo_key)["batchItemFailures"] == []  # ... the preview after
    _ingest_image(cloud, "P-IMG", photo_key, photo_sha, "image/jpeg")  # and the other way round

    shown = {item["reading"]["key"]: item for item in _image_readings("P-IMG")}
    assert shown[dicom_key]["thumbnail_key"] == previews.preview_key("demo", dicom_sha)
    assert shown[photo_key]["thumbnail_key"] == previews.preview_key("demo", photo_sha)
    assert {item["thumbnail_status"] for item in shown.values()} == {"ready"}
    s3 = boto3.client("s3", region_name=REGION)
    for item in shown.values():
        webp = s3.get_object(Bucket=cloud.bucket, Key=item["thumbnail_key"])["Body"].read()
        preview = Image.open(io.BytesIO(webp))
        assert preview.format == "WEBP" and max(preview.size) <= 300
    assert Image.open(io.BytesIO(s3.get_object(Bucket=cloud.bucket, Key=shown[photo_key]["thumbnail_key"])["Body"]
                                 .read())).size == (300, 150)  # fmt: skip


def test_broken_images_are_recorded_and_other_raw_files_left_alone(cloud: ResourceNames) -> None:
    broken_key, broken_sha = _put_raw(cloud, truncated(photo((1200, 900))), ".jpg")
    xml_key, xml_sha = _put_raw(cloud, b"<?xml version='1.0'?><Tonometry/>", ".xml")
    assert _previews(cloud, broken_key, xml_key)["batchItemFailures"] == []
    _ingest_image(cloud, "P-BROKEN", broken_key, broken_sha, "image/jpeg")
    [shown] = _image_readings("P-BROKEN")
    assert shown["thumbnail_status"] == "thumbnail_failed" and shown["thumbnail_key"] is None
    assert shown["thumbnail_reason"].startswith("undecodable_image")
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=cloud.bucket, Prefix="previews/")
    assert [o["Key"] for o in listed.get("Contents", [])] == []  # nothing for the XML, nothing for the broken JPEG
    from chalicelib.db import scans as scans_db

    assert scans_db.previews("demo", [xml_sha]) == {}  # the XML got no record either
    assert set(scans_db.previews("demo", [broken_sha])) == {broken_sha}


def test_readings_without_images_make_no_extra_call(cloud: ResourceNames) -> None:
    from tests.cloud.dynamo_calls import recorded

    event = sqs_event(s3_notification(cloud.bucket, put_envelope(cloud, make_envelope(patient_id="P-PLAIN"))))
    assert ingest_events.lambda_handler(event, FakeLambdaContext())["batchItemFailures"] == []
    with recorded() as calls:
        assert _image_readings("P-PLAIN") == []
    assert [operation for operation, _ in calls if operation == "BatchGetItem"] == []
    assert calls  # the recorder saw the read itself
