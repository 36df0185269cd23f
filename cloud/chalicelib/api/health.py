"""GET /health: liveness of the API itself (no auth, no downstream calls)."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import BaseModel

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.settings import get_settings

bp = Blueprint(__name__)


class Health(BaseModel):
    status: str
    service: str
    stage: str


@endpoint(bp, "GET", "/health", permission=None, response=Health)
def health(call: Call) -> Health:
    """Liveness of the API."""
    return Health(status="ok", service="medflow-api", stage=get_settings().stage)
