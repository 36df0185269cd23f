"""Query parameters shared by list endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageQuery(BaseModel):
    # Unknown parameters are rejected: a typo ("limt") should not silently return the default page.
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    next: str | None = Field(default=None, min_length=1, max_length=2048)
