"""Fixtures for the edge agent tests: a spool in tmp, an Intake with the test adapter, S3 on the moto server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from agent_testkit import BUCKET, IDENT, LineAdapter, RecordingWriter
from botocore.config import Config
from smbd_testkit import Smbd, start_smbd

from edge_agent.config import CloudSection
from edge_agent.intake.intake import Intake
from edge_agent.spool import Spool
from edge_agent.spool.uploader import Uploader, make_s3_client


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def intake(spool: Spool) -> Intake:
    return Intake(spool, IDENT, max_spool_bytes=10_000_000, adapters=[LineAdapter()])


@pytest.fixture
def cloud(aws_endpoint: str) -> CloudSection:
    return CloudSection(bucket=BUCKET, endpoint_url=aws_endpoint, backoff_base_seconds=0.01, backoff_max_seconds=0.05)


@pytest.fixture
def s3(cloud: CloudSection) -> Any:
    """A plain client for assertions, with the ingest bucket created (the agent never creates buckets)."""
    client = boto3.client(
        "s3", endpoint_url=cloud.endpoint_url, region_name="us-east-1", config=Config(signature_version="s3v4")
    )
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def writer(cloud: CloudSection, s3: Any) -> RecordingWriter:
    return RecordingWriter(make_s3_client(cloud), cloud)


@pytest.fixture
def uploader(spool: Spool, writer: RecordingWriter) -> Uploader:
    return Uploader(spool, writer, backoff_base=0.01, backoff_max=0.05, idle_seconds=0.1)


@pytest.fixture(scope="session")
def smbd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smbd]:
    """One real Samba smbd per session (shares `exports` and `secure`, the latter encryption-only)."""
    server = start_smbd(tmp_path_factory.mktemp("smbd"))
    server.add_share("secure", **{"smb encrypt": "required"})
    server.set_shares(server.shares)
    yield server
    server.stop()
