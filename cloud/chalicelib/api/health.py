"""GET /health: liveness of the API itself (no auth, no downstream calls)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


@endpoint(bp, "/health", permission=None)
def health(call: Call) -> dict[str, Any]:
    return {"status": "ok", "service": "medflow-api", "stage": get_settings().stage}
