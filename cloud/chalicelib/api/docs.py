"""GET /openapi.json: the API's OpenAPI 3.1 document, generated from the route table (public, no PHI)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api import openapi
from chalicelib.api.endpoint import Call, endpoint

bp = Blueprint(__name__)


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    return openapi.document()


@endpoint(bp, "GET", "/openapi.json", permission=None)
def openapi_json(call: Call) -> Response:
    """This API's OpenAPI 3.1 document."""
    return Response(body=_document(), status_code=200, headers={"Content-Type": "application/json"})
