"""The ingest bucket refuses plain HTTP and unencrypted uploads: in the template, and locally where it can."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.resources import ResourceNames, account_queue_policy, bucket_policy
from infra.template import build_template
from localdev.bootstrap import apply_bucket_policy
from tests.cloud.builders import REGION


def _denials(policy: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in policy["Statement"] if s["Effect"] == "Deny"}


class FakeS3:
    """An S3 endpoint that stores the bucket policy and honours it as AWS does (`enforces=True`) or as
    moto 5.2 does (every Deny statement with a Condition matches: object requests are refused)."""

    def __init__(self, *, enforces: bool) -> None:
        self.enforces, self.policy, self.objects = enforces, None, {}

    def put_bucket_policy(self, *, Bucket: str, Policy: str) -> None:
        self.policy = json.loads(Policy)

    def delete_bucket_policy(self, *, Bucket: str) -> None:
        self.policy = None

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ServerSideEncryption: str) -> dict:
        if self.policy and not self.enforces:
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "PutObject")
        self.objects[Key] = Body
        return {"VersionId": "v1"}

    def delete_object(self, *, Bucket: str, Key: str, VersionId: str) -> None:
        del self.objects[Key]


def test_the_bootstrap_puts_the_policy_where_the_endpoint_honours_it() -> None:
    s3 = FakeS3(enforces=True)
    assert apply_bucket_policy(s3, "medflow-test-ingest") is True
    assert s3.policy == bucket_policy("arn:aws:s3:::medflow-test-ingest", "arn:aws:s3:::medflow-test-ingest/*")
    assert s3.objects == {}  # the probe upload is gone, its version included


def test_an_endpoint_that_cannot_hold_the_policy_runs_without_it_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)  # whatever level an earlier test in this worker left the root logger at
    s3 = FakeS3(enforces=False)
    assert apply_bucket_policy(s3, "medflow-test-ingest") is False
    assert s3.policy is None and "runs without it" in caplog.text


def test_moto_accepts_the_policy_but_refuses_even_encrypted_uploads_under_it(cloud: ResourceNames) -> None:
    """Why the local bootstrap takes it off again on moto: a Deny's condition is ignored there."""
    s3 = boto3.client("s3", region_name=REGION)
    with pytest.raises(ClientError):
        s3.get_bucket_policy(Bucket=cloud.bucket)  # the bootstrap tried it and took it off
    arn = f"arn:aws:s3:::{cloud.bucket}"
    s3.put_bucket_policy(Bucket=cloud.bucket, Policy=json.dumps(bucket_policy(arn, f"{arn}/*")))
    with pytest.raises(ClientError):
        s3.put_object(Bucket=cloud.bucket, Key="envelopes/x.json", Body=b"{}", ServerSideEncryption="AES256")
    s3.delete_bucket_policy(Bucket=cloud.bucket)
    s3.put_object(Bucket=cloud.bucket, Key="envelopes/x.json", Body=b"{}", ServerSideEncryption="AES256")


def test_the_policy_refuses_plain_http_and_unencrypted_uploads() -> None:
    denials = _denials(bucket_policy("arn:aws:s3:::b", "arn:aws:s3:::b/*"))
    tls = denials["TlsOnly"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and tls["Action"] == "s3:*"
    assert tls["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"] and tls["Principal"] == "*"
    sse = denials["EncryptedUploadsOnly"]
    assert sse["Action"] == "s3:PutObject" and sse["Resource"] == "arn:aws:s3:::b/*"
    # A negated operator matches when the header is absent: one statement refuses both cases.
    assert sse["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": ["AES256", "aws:kms", "aws:kms:dsse"]}
    }


def test_the_template_attaches_the_same_policy_to_the_bucket() -> None:
    resources = build_template("prod")["Resources"]
    attached = resources["IngestBucketPolicy"]["Properties"]
    assert attached["Bucket"] == {"Ref": "IngestBucket"}
    assert attached["PolicyDocument"] == bucket_policy(
        {"Fn::GetAtt": ["IngestBucket", "Arn"]}, {"Fn::Sub": "${IngestBucket.Arn}/*"}
    )


def test_the_queue_admits_the_bucket_only_from_this_account() -> None:
    resources = build_template("prod")["Resources"]
    [statement] = resources["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:s3:::medflow-prod-ingest"}
    local = account_queue_policy("arn:aws:sqs:us-east-1:123456789012:q", "b", "123456789012")
    assert local["Statement"][0]["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
