"""The scan upload's presigned POST policy against a real S3 that checks it (LocalStack; moto does not):
a correct upload lands, and a wrong content type, a tampered key, an expired policy, too large and empty
bodies are refused by S3 itself. Signed with LocalStack's secret (`test`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from chalicelib.services import images
from chalicelib.services.scans import presigned_post
from localdev.bootstrap import ensure_resources
from localdev.localstack import CREDENTIALS
from tests.cloud.images import photo

pytestmark = [pytest.mark.localstack, pytest.mark.integration]


@pytest.fixture(scope="module")
def scans(localstack_url: str) -> Iterator[tuple[Any, str]]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        names = ensure_resources(localstack_url, "ls" + uuid.uuid4().hex[:8], "us-east-1", include_tables=False)
        s3 = boto3.client(
            "s3", endpoint_url=localstack_url, region_name="us-east-1", config=Config(signature_version="s3v4"),
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip
        yield s3, names.scans_bucket


def _key() -> str:
    return f"scans/clinic-ls/P-1/{uuid.uuid4().hex}/FRONT.jpg"


def _post(target: dict[str, Any], data: bytes, **overrides: str) -> requests.Response:
    fields = {**target["fields"], **overrides}
    return requests.post(target["url"], data=fields, files={"file": ("photo.jpg", data, fields["Content-Type"])},
                         timeout=60)  # fmt: skip


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        return False
    return True


def test_a_correct_upload_lands_with_its_type(scans: tuple[Any, str]) -> None:
    s3, bucket = scans
    key = _key()
    answer = _post(presigned_post(s3, bucket, key, "image/jpeg", 600), photo())
    assert answer.status_code in (200, 201, 204), answer.text
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "image/jpeg"


def test_a_url_signed_with_another_secret_is_refused(scans: tuple[Any, str], localstack_url: str) -> None:
    """LocalStack checks query-string signatures against its secret `test` (a client configured with moto's
    `testing` gets 403 even for a correct URL). It does not check the signature of a POST form (it does
    enforce the policy's conditions and expiry, below); real S3 checks both."""
    s3, bucket = scans
    key = _key()
    s3.put_object(Bucket=bucket, Key=key, Body=photo(), ContentType="image/jpeg")
    stranger = boto3.client(
        "s3", endpoint_url=localstack_url, region_name="us-east-1", config=Config(signature_version="s3v4"),
        aws_access_key_id="test", aws_secret_access_key="testing",
    )  # fmt: skip
    params = {"Bucket": bucket, "Key": key}
    assert requests.get(stranger.generate_presigned_url("get_object", Params=params), timeout=30).status_code == 403
    assert requests.get(s3.generate_presigned_url("get_object", Params=params), timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"Content-Type": "text/html"}, 403),  # the content type the policy fixed
        ({"key": "scans/clinic-ls/P-OTHER/x/FRONT.jpg"}, 403),  # another patient's place
    ],
    ids=["wrong-content-type", "tampered-key"],
)
def test_a_changed_form_is_refused(scans: tuple[Any, str], change: dict[str, str], status: int) -> None:
    s3, bucket = scans
    key = _key()
    answer = _post(presigned_post(s3, bucket, key, "image/jpeg", 600), photo(), **change)
    assert answer.status_code == status, answer.text
    assert not _exists(s3, bucket, key) and not _exists(s3, bucket, change.get("key", key))


def test_too_large_and_empty_bodies_are_refused(scans: tuple[Any, str]) -> None:
    s3, bucket = scans
    key = _key()
    target = presigned_post(s3, bucket, key, "image/jpeg", 600)
    too_large = _post(target, b"\xff\xd8\xff" + b"\0" * (images.MAX_UPLOAD_BYTES - 2))
    assert too_large.status_code == 400 and "EntityTooLarge" in too_large.text
    empty = _post(target, b"")
    assert empty.status_code == 400 and "EntityTooSmall" in empty.text
    assert not _exists(s3, bucket, key)


def test_an_expired_policy_is_refused(scans: tuple[Any, str]) -> None:
    import time

    s3, bucket = scans
    key = _key()
    target = presigned_post(s3, bucket, key, "image/jpeg", 1)
    time.sleep(2.5)
    answer = _post(target, photo())
    assert answer.status_code == 403 and "expired" in answer.text.lower(), answer.text
    assert not _exists(s3, bucket, key)


def test_staff_view_url_works_and_expires(scans: tuple[Any, str]) -> None:
    import time

    s3, bucket = scans
    key = _key()
    s3.put_object(Bucket=bucket, Key=key, Body=photo(), ContentType="image/jpeg")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert requests.get(url, timeout=30).status_code == 200
    tampered = url.replace("FRONT.jpg", "LEFT.jpg")
    assert requests.get(tampered, timeout=30).status_code == 403
    time.sleep(4)
    assert requests.get(url, timeout=30).status_code == 403
