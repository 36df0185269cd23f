"""Bad input for every route, generated from the route table: deeply nested, malformed, non-object, oversized
bodies, unknown fields, wrong types, unknown query parameters, wrong methods and media types. Each gets a
precise 4xx in the one error shape `{code, message, field?}`, writes nothing, and never a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from pydantic import BaseModel

from app import app
from chalicelib.api.endpoint import MAX_BODY_BYTES, ROUTES, RouteSpec
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role, allows
from tests.cloud.builders import bearer
from tests.cloud.dynamo_calls import recorded, tables_written

WITH_BODY = [route for route in ROUTES if route.body is not None]
UNKNOWN = "zz_not_a_field"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _route_id(route: RouteSpec) -> str:
    return f"{route.method} {route.path}"


@pytest.fixture(scope="module")
def client(module_cloud: ResourceNames) -> Iterator[Client]:
    with Client(app) as test_client:
        yield test_client


def _path(route: RouteSpec) -> str:
    path = route.path
    for name in route.path_params:
        path = path.replace("{" + name + "}", f"x-{name}")
    return path


def _send(
    client: Client,
    route: RouteSpec,
    body: bytes = b"",
    *,
    method: str | None = None,
    query: str = "",
    content_type: str = "application/json",
) -> Any:
    # An organisation admin: every staff permission is granted, so what answers is the input check.
    # Patient-portal routes (a permission only patients hold) get a patient's token instead.
    token = {}
    if route.permission and allows(Role.ADMIN, route.permission, org_admin=True):
        token = bearer("clinic-x", Role.ADMIN, org_id="org-x", org_admin=True)
    elif route.permission:
        token = bearer("clinic-x", Role.PATIENT, patient_id="P-bad-input")
    headers = {"Content-Type": content_type, **token}
    with recorded() as calls:
        response = client.http.request(method or route.method, _path(route) + query, headers=headers, body=body)
    written = tables_written(calls) - {name for name in _audit_tables()}
    assert response.status_code < 500, response.body
    assert written == set(), f"bad input wrote to {written}"
    return response


def _audit_tables() -> set[str]:
    from chalicelib.settings import get_settings

    return {get_settings().names.table("audit")}


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The body of an error answer, checked to be exactly `{code, message, field?}` of strings."""
    assert response.status_code == status, response.body
    body = json.loads(response.body)
    assert isinstance(body, dict) and {"code", "message"} <= set(body) <= {"code", "message", "field"}, body
    assert all(isinstance(value, str) and value for value in body.values()), body
    if code is not None:
        assert body["code"] == code, body
    return body


def valid_body(model: type[BaseModel]) -> dict[str, Any]:
    """A minimal body the model accepts, built from its JSON schema (required fields only)."""
    schema = model.model_json_schema()
    if schema.get("examples"):  # the model documents a valid body (its fields depend on each other)
        body = dict(schema["examples"][0])
        model.model_validate(body)
        return body
    body = {name: _value(schema["properties"][name], schema) for name in schema.get("required", [])}
    model.model_validate(body)  # a body this cannot build is a gap in `_value`, not in the route
    return body


def _value(prop: dict[str, Any], schema: dict[str, Any]) -> Any:
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
    if "enum" in prop:
        return prop["enum"][0]
    if prop.get("examples"):
        return prop["examples"][0]
    if "anyOf" in prop:
        return _value(next(p for p in prop["anyOf"] if p.get("type") != "null"), schema)
    kind = prop.get("type")
    if kind == "string":
        return "a@b.test" if prop.get("format") == "email" else "x" * max(prop.get("minLength", 1), 3)
    if kind in ("integer", "number"):
        return prop.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    return {}


def _wrong(value: Any) -> Any:
    return 12345 if isinstance(value, str) else "not-a-number" if isinstance(value, int | float) else [1]


@pytest.mark.parametrize("route", WITH_BODY, ids=_route_id)
def test_deeply_nested_json_is_a_400(client: Client, route: RouteSpec) -> None:
    body = b"[" * 1000 + b"]" * 1000
    _error(_send(client, route, body), 400, "invalid_json")


@pytest.mark.parametrize("raw", [b'{"email": ', b"{'a': 1}", b"\xff\xfe", b"NaN", b'{"a": Infinity}'])
@pytest.mark.parametrize("route", WITH_BODY, ids=_route_id)
def test_malformed_json_is_a_400(client: Client, route: RouteSpec, raw: bytes) -> None:
    _error(_send(client, route, raw), 400, "invalid_json")


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null"])
@pytest.mark.parametrize("route", WITH_BODY, ids=_route_id)
def test_a_body_that_is_not_an_object_is_a_422(client: Client, route: RouteSpec, raw: bytes) -> None:
    _error(_send(client, route, raw), 422)


@pytest.mark.parametrize("route", WITH_BODY, ids=_route_id)
def test_an_unknown_field_is_a_422_naming_it(client: Client, route: RouteSpec) -> None:
    assert route.body is not None
    body = {**valid_body(route.body), UNKNOWN: "1"}
    error = _error(_send(client, route, json.dumps(body).encode()), 422, "invalid_request")
    assert error.get("field") == UNKNOWN and UNKNOWN in error["message"]


@pytest.mark.parametrize("route", WITH_BODY, ids=_route_id)
def test_each_field_of_a_wrong_type_is_a_422_naming_it(client: Client, route: RouteSpec) -> None:
    assert route.body is not None
    valid = valid_body(route.body)
    aliases = {name: info.alias for name, info in route.body.model_fields.items()}
    for name, value in valid.items():
        error = _error(_send(client, route, json.dumps({**valid, name: _wrong(value)}).encode()), 422)
        named = str(error.get("field")).split(".")[0]  # a list field names the element: "roles.0"
        assert named in (name, aliases.get(name)), error


@pytest.mark.parametrize("route", WITH_BODY, ids=_route_id)
def test_an_oversized_body_is_a_400(client: Client, route: RouteSpec) -> None:
    body = json.dumps({"pad": "x" * (MAX_BODY_BYTES + 1)}).encode()
    _error(_send(client, route, body), 400, "body_too_large")


@pytest.mark.parametrize("route", WITH_BODY, ids=_route_id)
def test_a_body_that_is_not_json_by_its_media_type_is_a_415(client: Client, route: RouteSpec) -> None:
    _error(_send(client, route, b"email=a", content_type="text/plain"), 415, "unsupported_media_type")


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_an_unknown_query_parameter_is_a_422_naming_it(client: Client, route: RouteSpec) -> None:
    body = json.dumps(valid_body(route.body)).encode() if route.body is not None else b""
    error = _error(_send(client, route, body, query=f"?{UNKNOWN}=1"), 422, "invalid_request")
    assert error.get("field") == UNKNOWN


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_a_method_the_path_does_not_serve_is_a_405(client: Client, route: RouteSpec) -> None:
    served = {r.method for r in ROUTES if r.path == route.path}
    method = next(m for m in METHODS if m not in served)
    error = _error(_send(client, route, method=method), 405, "method_not_allowed")
    assert "field" not in error
