"""The OpenAPI 3.1 document, generated from the route table (`endpoint.ROUTES`) and the routes' pydantic models:
there is no hand-written spec to drift."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api import params
from chalicelib.api.endpoint import ROUTES, RouteSpec
from chalicelib.api.errors import ErrorBody

REF = "#/components/schemas/{model}"
_ERRORS = {
    "400": "the body is not JSON, too large or too deeply nested",
    "401": "missing, invalid or expired credentials, or an ended session",
    "403": "the role lacks the route's permission",
    "404": "no such resource in the caller's clinic (or no such route)",
    "409": "the request conflicts with the current state",
    "422": "a field breaks the contract; `field` names it",
    "423": "the account is locked for a while",
    "429": "too many attempts; see Retry-After",
}


def document(title: str = "MedFlow API", version: str = "1") -> dict[str, Any]:
    # pydantic names generic models' schemas itself (`Page[AgentStatus]` becomes `Page_AgentStatus_`):
    # every $ref comes from its mapping, never from the class name.
    refs, schemas = models_json_schema(_models(), ref_template=REF)
    ref = dict(refs)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, ref)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _models() -> list[tuple[type[BaseModel], Any]]:
    found: dict[tuple[type[BaseModel], str], None] = {(ErrorBody, "serialization"): None}
    for route in ROUTES:
        if route.body is not None:
            found[(route.body, "validation")] = None
        if route.response is not None:
            found[(route.response, "serialization")] = None
    return list(found)


Refs = dict[tuple[Any, Any], Any]


def _operation(route: RouteSpec, ref: Refs) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{route.domain}_{route.view}",
        "summary": route.summary,
        "tags": [route.domain],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": params.SCHEMAS.get(name, params.DEFAULT_SCHEMA)}
            for name in route.path_params
        ]
        + _query_parameters(route.query),
        "responses": _responses(route, ref),
    }
    if route.permission is not None:
        operation["security"] = [{"bearer": []}]
        operation["x-permission"] = route.permission.value
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": ref[(route.body, "validation")]}},
        }
    return operation


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _strip_title(prop)}
        for name, prop in schema.get("properties", {}).items()
    ]


def _strip_title(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "title"}


def _responses(route: RouteSpec, ref: Refs) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "success"}
    if route.response is not None:
        success["content"] = {"application/json": {"schema": ref[(route.response, "serialization")]}}
    responses: dict[str, Any] = {str(route.status): success}
    codes = ["400", "404", "409", "422", "423", "429"] if route.body is not None else ["404", "422"]
    if route.permission is not None:
        codes += ["401", "403"]
    elif route.body is not None:
        codes += ["401"]
    for code in sorted(set(codes)):
        responses[code] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": ref[(ErrorBody, "serialization")]}},
        }
    return responses
