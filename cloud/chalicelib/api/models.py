"""Base classes of the API's request models: snake_case fields that also accept seed 000's camelCase spellings,
unknown fields refused (422 naming the field), surrounding whitespace stripped."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class RequestModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
        frozen=True,
    )


class Answer(BaseModel):
    """A plain acknowledgement."""

    status: str
