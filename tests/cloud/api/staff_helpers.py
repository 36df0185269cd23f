"""Helpers shared by the staff tests: JSON calls and logging in through the API."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from tests.cloud.builders import PASSWORD

JSON = {"Content-Type": "application/json"}


def call(api: Client, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = dict(JSON)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = getattr(api.http, method.lower())(
        path, headers=headers, body=json.dumps(body) if body is not None else None
    )
    return response.status_code, response.json_body


def login(api: Client, email: str, password: str = PASSWORD, **extra: Any) -> tuple[int, Any]:
    return call(api, "POST", "/auth/login", {"email": email, "password": password, **extra})


def token(api: Client, email: str, password: str = PASSWORD, **extra: Any) -> str:
    status, body = login(api, email, password, **extra)
    assert status == 200, body
    return str(body["access_token"])
