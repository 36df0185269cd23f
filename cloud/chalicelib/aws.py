"""boto3 clients, built once per (service, endpoint, region) and reused across Lambda invocations."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import Settings

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str], Any] = {}
_session: boto3.session.Session | None = None  # one session: its loader caches the service models
# SigV4 everywhere (boto3 otherwise presigns S3 with SigV2); bounded retries with backoff.
_CONFIG = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 5})


def client(service: str, settings: Settings) -> Any:
    key = (service, settings.endpoint_url, settings.region)
    with _lock:
        if key not in _clients:
            global _session
            _session = _session or boto3.session.Session()
            _clients[key] = _session.client(
                service, region_name=settings.region, endpoint_url=settings.endpoint_url, config=_CONFIG
            )
        return _clients[key]


def reset_clients() -> None:
    """Drop cached clients (tests switch between in-process moto and a moto server)."""
    with _lock:
        _clients.clear()
