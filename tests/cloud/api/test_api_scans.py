"""Scan sessions over the API on in-process moto: the patient's session, presigned upload target, confirm with real
image checks (non-image bytes, 0 bytes, truncation, decompression bomb, HEIC without decoder, wrong type),
idempotent confirm, another patient's ids → 404, and staff's list / view / status."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from chalice.test import Client
from PIL import Image

from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from tests.cloud.builders import REGION, bearer
from tests.cloud.images import huge_png, photo, truncated

CLINIC, OTHER_CLINIC = "clinic-scans", "clinic-elsewhere"
PATIENT, OTHER_PATIENT = "P-SCAN-1", "P-SCAN-2"


@pytest.fixture(scope="module")
def api(module_cloud: ResourceNames) -> Client:
    from app import app

    with Client(app) as client:
        yield client


def call(api: Client, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    response = getattr(api.http, method.lower())(
        path,
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps(body) if body is not None else None,
    )
    return response.status_code, response.json_body


def patient(patient_id: str = PATIENT, clinic: str = CLINIC) -> dict[str, str]:
    return bearer(clinic, Role.PATIENT, user_id=f"pu-{patient_id}", patient_id=patient_id)


def doctor(clinic: str = CLINIC) -> dict[str, str]:
    return bearer(clinic, Role.DOCTOR, user_id="u-doctor")


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def open_session(api: Client, headers: dict[str, str] | None = None) -> str:
    status, body = call(api, "POST", "/patient/scans/sessions", headers or patient())
    assert status == 201, body
    assert body["status"] == "PENDING" and body["image_count"] == 0
    return str(body["id"])


def upload(api: Client, names: ResourceNames, session_id: str, image_type: str, data: bytes,
           content_type: str = "image/jpeg", headers: dict[str, str] | None = None) -> str:  # fmt: skip
    """Asks for the upload target, stores the bytes under its key (moto does not check the policy: the
    LocalStack test does), returns the key."""
    body = {"session_id": session_id, "image_type": image_type, "content_type": content_type}
    status, target = call(api, "POST", "/patient/scans/upload-url", headers or patient(), body)
    assert status == 200, target
    s3().put_object(Bucket=names.scans_bucket, Key=target["key"], Body=data, ContentType=content_type)
    return str(target["key"])


def confirm(
    api: Client, session_id: str, image_type: str, key: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    return call(api, "POST", "/patient/scans/upload/confirm", headers or patient(),
                {"session_id": session_id, "image_type": image_type, "key": key})  # fmt: skip


def test_session_opens_pending_and_lists_with_progress(api: Client) -> None:
    headers = patient("P-LIST")
    first = open_session(api, headers)
    second = open_session(api, headers)
    status, page = call(api, "GET", "/patient/scans/sessions", headers)
    assert status == 200
    assert [item["id"] for item in page["items"]] == [second, first]  # newest first
    assert all(item["progress"] == "0/5" and item["patient_id"] == "P-LIST" for item in page["items"])
    status, other = call(api, "GET", "/patient/scans/sessions", patient("P-SOMEONE-ELSE"))
    assert status == 200 and other["items"] == []


def test_upload_url_is_a_sigv4_post_policy_bound_to_key_type_and_size(api: Client, module_cloud: ResourceNames) -> None:
    session_id = open_session(api)
    status, target = call(api, "POST", "/patient/scans/upload-url", patient(),
                          {"sessionId": session_id, "imageType": "FRONT", "contentType": "image/png"})  # fmt: skip
    assert status == 200, target
    assert target["method"] == "POST"
    assert target["key"] == f"scans/{CLINIC}/{PATIENT}/{session_id}/FRONT.png"
    fields = target["fields"]
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and fields["Content-Type"] == "image/png"
    policy = json.loads(__import__("base64").b64decode(fields["policy"]))
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert ["content-length-range", 1, 25 * 1024 * 1024] in policy["conditions"]
    assert {"key": target["key"]} in policy["conditions"]
    assert module_cloud.scans_bucket in target["url"]
    assert "expires_at" in target


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"image_type": "FRONT", "content_type": "image/gif"}, 422, "unsupported_type"),
        ({"image_type": "SIDEWAYS", "content_type": "image/jpeg"}, 422, "invalid_request"),
        ({"image_type": "FRONT", "content_type": "image/jpeg", "session_id": "0" * 32}, 404, "not_found"),
    ],
)
def test_upload_url_refuses_bad_input(api: Client, body: dict[str, str], status: int, code: str) -> None:
    session_id = open_session(api)
    got, answer = call(api, "POST", "/patient/scans/upload-url", patient(), {"session_id": session_id, **body})
    assert (got, answer["code"]) == (status, code), answer


def test_another_patients_session_is_not_found(api: Client, module_cloud: ResourceNames) -> None:
    session_id = open_session(api, patient(OTHER_PATIENT))
    key = upload(api, module_cloud, session_id, "FRONT", photo(), headers=patient(OTHER_PATIENT))
    status, answer = call(api, "POST", "/patient/scans/upload-url", patient(),
                          {"session_id": session_id, "image_type": "LEFT", "content_type": "image/jpeg"})  # fmt: skip
    assert (status, answer["code"]) == (404, "not_found")
    status, answer = confirm(api, session_id, "FRONT", key)
    assert (status, answer["code"]) == (404, "not_found")
    # and the same patient id in another clinic is another patient
    status, answer = confirm(api, session_id, "FRONT", key, patient(OTHER_PATIENT, OTHER_CLINIC))
    assert (status, answer["code"]) == (404, "not_found")


def test_staff_token_cannot_use_patient_routes(api: Client) -> None:
    status, answer = call(api, "POST", "/patient/scans/sessions", doctor())
    assert (status, answer["code"]) == (403, "forbidden")


def test_confirm_records_image_counts_once_and_is_idempotent(api: Client, module_cloud: ResourceNames) -> None:
    session_id = open_session(api)
    key = upload(api, module_cloud, session_id, "FRONT", photo())
    status, image = confirm(api, session_id, "FRONT", key)
    assert status == 200, image
    assert image["image_type"] == "FRONT" and image["key"] == key and image["id"]
    again_status, again = confirm(api, session_id, "FRONT", key)
    assert again_status == 200 and again["id"] == image["id"]
    _, page = call(api, "GET", "/patient/scans/sessions", patient())
    mine = next(item for item in page["items"] if item["id"] == session_id)
    assert (mine["image_count"], mine["progress"]) == (1, "1/5")
    # the type is taken: a new upload URL for it is refused
    status, answer = call(api, "POST", "/patient/scans/upload-url", patient(),
                          {"session_id": session_id, "image_type": "FRONT", "content_type": "image/jpeg"})  # fmt: skip
    assert (status, answer["code"]) == (409, "image_exists")


def test_five_images_fill_a_session(api: Client, module_cloud: ResourceNames) -> None:
    session_id = open_session(api)
    for image_type in ("FRONT", "LEFT", "RIGHT", "UPPER", "LOWER"):
        status, answer = confirm(
            api, session_id, image_type, upload(api, module_cloud, session_id, image_type, photo())
        )
        assert status == 200, answer
    _, page = call(api, "GET", "/patient/scans/sessions", patient())
    assert next(item for item in page["items"] if item["id"] == session_id)["progress"] == "5/5"


def _png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        (b"%PDF-1.7 definitely not a photo" * 10, "image/jpeg", "not_an_image"),
        (b"", "image/jpeg", "empty_upload"),
        (truncated(photo((800, 600))), "image/jpeg", "undecodable_image"),
        (huge_png(), "image/png", "image_too_large"),
        (_png_bytes(), "image/jpeg", "type_mismatch"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "image/heic", "heic_unsupported"),
    ],
    ids=["pdf", "zero-bytes", "truncated", "bomb", "png-as-jpeg", "heic"],
)
def test_confirm_refuses_what_is_not_a_good_image(
    api: Client, module_cloud: ResourceNames, data: bytes, content_type: str, code: str
) -> None:
    session_id = open_session(api)
    key = upload(api, module_cloud, session_id, "LEFT", data, content_type)
    status, answer = confirm(api, session_id, "LEFT", key)
    assert (status, answer["code"]) == (422, code), answer
    assert answer["message"]
    _, page = call(api, "GET", "/patient/scans/sessions", patient())
    assert next(item for item in page["items"] if item["id"] == session_id)["image_count"] == 0  # nothing recorded


def test_confirm_refuses_missing_object_and_foreign_key(api: Client, module_cloud: ResourceNames) -> None:
    session_id = open_session(api)
    status, answer = confirm(api, session_id, "UPPER", f"scans/{CLINIC}/{PATIENT}/{session_id}/UPPER.jpg")
    assert (status, answer["code"]) == (422, "upload_missing")
    key = upload(api, module_cloud, session_id, "UPPER", photo())
    status, answer = confirm(api, session_id, "LOWER", key)  # the key of another type
    assert (status, answer["code"]) == (422, "invalid_key")
    status, answer = confirm(api, session_id, "UPPER", f"scans/{CLINIC}/{PATIENT}/{session_id}/UPPER.exe")
    assert (status, answer["code"]) == (422, "invalid_key")


def test_staff_list_view_and_review(api: Client, module_cloud: ResourceNames) -> None:
    headers = patient("P-REVIEW")
    session_id = open_session(api, headers)
    key = upload(api, module_cloud, session_id, "RIGHT", photo(), headers=headers)
    assert confirm(api, session_id, "RIGHT", key, headers)[0] == 200

    status, page = call(api, "GET", "/scans/sessions?status=PENDING&limit=200", doctor())
    assert status == 200
    created = [item["created_at"] for item in page["items"]]
    assert created == sorted(created)  # oldest first
    assert session_id in [item["id"] for item in page["items"]]
    status, elsewhere = call(api, "GET", "/scans/sessions", doctor(OTHER_CLINIC))
    assert status == 200 and elsewhere["items"] == []

    status, view = call(api, "GET", f"/scans/sessions/{session_id}", doctor())
    assert status == 200, view
    assert view["patient_id"] == "P-REVIEW" and view["image_count"] == 1
    [image] = view["images"]
    assert image["image_type"] == "RIGHT" and image["key"] == key
    assert "X-Amz-Signature=" in image["url"] and "X-Amz-Expires=300" in image["url"]
    assert call(api, "GET", f"/scans/sessions/{session_id}", doctor(OTHER_CLINIC))[0] == 404
    assert call(api, "GET", f"/scans/sessions/{session_id}", patient("P-REVIEW"))[0] == 403

    status, reviewed = call(api, "PATCH", f"/scans/sessions/{session_id}/status", doctor(), {"status": "REVIEWED"})
    assert status == 200, reviewed
    assert reviewed["status"] == "REVIEWED" and reviewed["reviewed_by_id"] == "u-doctor" and reviewed["reviewed_at"]
    status, again = call(api, "PATCH", f"/scans/sessions/{session_id}/status", doctor(), {"status": "REVIEWED"})
    assert (status, again["code"]) == (409, "status_unchanged")
    _, pending = call(api, "GET", "/scans/sessions?limit=200", doctor())
    assert session_id not in [item["id"] for item in pending["items"]]
    _, done = call(api, "GET", "/scans/sessions?status=REVIEWED", doctor())
    assert session_id in [item["id"] for item in done["items"]]
    # a reviewed session takes no more uploads
    status, closed = call(api, "POST", "/patient/scans/upload-url", headers,
                          {"session_id": session_id, "image_type": "LEFT", "content_type": "image/jpeg"})  # fmt: skip
    assert (status, closed["code"]) == (409, "session_closed")
    _, events = call(api, "GET", "/events?limit=200", doctor())
    assert any(e["type"] == "scan.reviewed" and e["subject"]["session_id"] == session_id for e in events["items"])


def test_staff_routes_refuse_bad_ids_and_statuses(api: Client) -> None:
    assert call(api, "GET", "/scans/sessions/not-a-session", doctor())[1]["code"] == "invalid_session_id"
    status, answer = call(api, "GET", "/scans/sessions?status=LOST", doctor())
    assert status == 422
    status, answer = call(api, "PATCH", f"/scans/sessions/{'a' * 32}/status", doctor(), {"status": "REVIEWED"})
    assert (status, answer["code"]) == (404, "not_found")
