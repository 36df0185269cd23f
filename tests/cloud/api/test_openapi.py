"""GET /openapi.json: a valid OpenAPI 3.1 document that documents every route of the route table, with every
reference resolvable and the status codes each route can answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client
from openapi_spec_validator import validate

from app import app
from chalicelib.api.endpoint import ROUTES


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    with Client(app) as client:
        response = client.http.get("/openapi.json")
    assert response.status_code == 200
    return dict(json.loads(response.body))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_it_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == {(route.method, route.path) for route in ROUTES}


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    missing = {ref for ref in _refs(document) if ref.removeprefix("#/components/schemas/") not in schemas}
    assert missing == set()


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_route_documents_what_it_can_answer(document: dict[str, Any], route: Any) -> None:
    operation = document["paths"][route.path][route.method.lower()]
    codes = set(operation["responses"])
    assert str(route.status) in codes
    assert {"404", "422"} <= codes
    if route.permission is not None:
        assert {"401", "403"} <= codes and operation["security"] == [{"bearer": []}]
    if route.body is not None:
        assert {"400", "422"} <= codes
    assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == set(route.path_params)
