"""API Gateway's own answers (GatewayResponses) have the API's error shape; an unknown route is a 404."""

from __future__ import annotations

import json

from infra.gateway import NOT_FOUND_MESSAGE, gateway_responses

REF = {"Ref": "RestAPI"}


def _by_type() -> dict[str, dict[str, object]]:
    resources = gateway_responses(REF)
    assert all(r["Type"] == "AWS::ApiGateway::GatewayResponse" for r in resources.values())
    return {r["Properties"]["ResponseType"]: r["Properties"] for r in resources.values()}


def _render(template: str, message: str = "Forbidden") -> dict[str, object]:
    """The body API Gateway would send: $context.error.messageString is a quoted JSON string."""
    return dict(json.loads(template.replace("$context.error.messageString", json.dumps(message))))


def test_an_unknown_route_is_a_404_not_found() -> None:
    missing = _by_type()["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404" and missing["RestApiId"] == REF
    body = _render(missing["ResponseTemplates"]["application/json"])  # type: ignore[index]
    assert body == {"code": "not_found", "message": NOT_FOUND_MESSAGE}


def test_every_response_renders_the_one_error_shape_as_json() -> None:
    for response_type, properties in _by_type().items():
        body = _render(properties["ResponseTemplates"]["application/json"])  # type: ignore[index]
        assert set(body) == {"code", "message"} and all(isinstance(v, str) and v for v in body.values()), response_type
        headers = properties["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == "'application/json'"  # type: ignore[index]


def test_the_defaults_cover_every_other_4xx_and_5xx_and_logical_ids_are_unique() -> None:
    resources = gateway_responses(REF)
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED"} <= set(_by_type())
    assert len(resources) == len(_by_type())
    assert all(name.isalnum() for name in resources)
