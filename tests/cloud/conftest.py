"""Fixtures for the cloud tests: resources in in-process moto (fast) or in the moto server, settings bound to them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib import aws
from chalicelib.resources import ResourceNames
from chalicelib.settings import Settings, use_settings
from localdev.bootstrap import ensure_resources
from tests.cloud.builders import JWT_SECRET, REGION, STAGE, VAPID_PRIVATE_KEY, VAPID_SUBJECT


def _activate(endpoint_url: str | None) -> ResourceNames:
    use_settings(
        Settings(
            stage=STAGE,
            region=REGION,
            endpoint_url=endpoint_url,
            jwt_secret=JWT_SECRET,
            vapid_private_key=VAPID_PRIVATE_KEY,
            vapid_subject=VAPID_SUBJECT,
        )
    )
    aws.reset_clients()
    return ensure_resources(endpoint_url, STAGE, REGION)


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[ResourceNames]:
    """Every resource of stage `test` in in-process moto; settings point at it."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        names = _activate(None)
        yield names
    use_settings(None)
    aws.reset_clients()


@pytest.fixture
def cloud_server(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ResourceNames]:
    """The same, against the real moto server process (integration tier)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    names = _activate(aws_endpoint)
    yield names
    use_settings(None)
    aws.reset_clients()


@pytest.fixture
def api() -> Client:
    from app import app

    return Client(app)


@pytest.fixture(scope="module")
def module_cloud() -> Iterator[ResourceNames]:
    """Like `cloud`, shared by the tests of one module that only read (seed once, query many times)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            yield _activate(None)
    use_settings(None)
    aws.reset_clients()
