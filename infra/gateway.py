"""API Gateway's own answers in the API's error shape `{"code", "message"}` (GatewayResponses), for deployed stages.

Without them API Gateway answers an unknown route with 403 `{"message": "Missing Authentication Token"}`
and its other refusals with `{"message": ...}`. Here an unknown route is a 404 `not_found` (the same answer
the local server gives: localdev/api_server.py), throttling a 429, and every other 4xx/5xx API Gateway
itself produces has the one shape. The template merges these resources in with the REST API's reference:

    resources.update(gateway_responses({"Ref": "RestAPI"}))   # RestAPI: the logical id Chalice gives the API
"""

from __future__ import annotations

import json
from typing import Any

NOT_FOUND_MESSAGE = "no such route; see /openapi.json for the routes this API serves"
# (response type, status or None to keep API Gateway's, code, message or None for API Gateway's own message)
RESPONSES: tuple[tuple[str, str | None, str, str | None], ...] = (
    ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found", NOT_FOUND_MESSAGE),
    ("THROTTLED", "429", "too_many_requests", "too many requests; slow down and retry"),
    ("REQUEST_TOO_LARGE", "413", "body_too_large", None),
    ("UNSUPPORTED_MEDIA_TYPE", "415", "unsupported_media_type", None),
    ("DEFAULT_4XX", None, "bad_request", None),
    ("DEFAULT_5XX", None, "internal_error", "the service could not answer; retry later"),
)


def _template(code: str, message: str | None) -> str:
    # $context.error.messageString is API Gateway's message already quoted as a JSON string.
    quoted = json.dumps(message) if message is not None else "$context.error.messageString"
    return '{"code": ' + json.dumps(code) + ', "message": ' + quoted + "}"


def _logical_id(response_type: str) -> str:
    return "GatewayResponse" + "".join(part.capitalize() for part in response_type.split("_"))


def gateway_responses(rest_api_ref: Any) -> dict[str, Any]:
    """CloudFormation resources (logical id → resource) for `rest_api_ref` (e.g. `{"Ref": "RestAPI"}`)."""
    resources: dict[str, Any] = {}
    for response_type, status, code, message in RESPONSES:
        properties: dict[str, Any] = {
            "RestApiId": rest_api_ref,
            "ResponseType": response_type,
            "ResponseTemplates": {"application/json": _template(code, message)},
            "ResponseParameters": {
                "gatewayresponse.header.Content-Type": "'application/json'",
                "gatewayresponse.header.Cache-Control": "'no-store'",
            },
        }
        if status is not None:
            properties["StatusCode"] = status
        resources[_logical_id(response_type)] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": properties}
    return resources
