"""The local API (`make run` starts it from cloud/): Chalice's local server, answering as the deployed API does.

`chalice local` fakes API Gateway's own answers: an unknown route is a 403 "Missing Authentication Token"
(or, with an Authorization header, an AWS SigV4 message), and a method http.server has no handler for
(TRACE, CONNECT, ...) a 501 HTML page. Deployed stages turn the first into a 404 with GatewayResponses
(`infra/gateway.py`); here a gateway subclass does the same, so every answer has the API's one error shape
`{"code", "message"}`.

    python -m localdev.api_server --host 127.0.0.1 --port 8000 --stage local     (from cloud/)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.deploy.validate import validate_routes
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, LocalGateway

NOT_FOUND = {"code": "not_found", "message": "no such route; see /openapi.json for the routes this API serves"}


class _NoRoute(Exception):
    """The path matches no route of the app."""


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"code": code, "message": message}).encode()


class Gateway(LocalGateway):
    """API Gateway as deployed with infra/gateway.py's responses: an unknown route is a 404 in the API's shape."""

    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super()._generate_lambda_event(method, path, headers, body)
        except ValueError:  # RouteMatcher: "No matching route found"
            raise _NoRoute(path) from None

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super().handle_request(method, path, headers, body)
        except _NoRoute:
            return {
                "statusCode": 404,
                "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
                "multiValueHeaders": {},
                "body": json.dumps(NOT_FOUND),
            }


class Handler(ChaliceRequestHandler):
    """Chalice's request handler with `Gateway`, and http.server's own errors in the API's shape."""

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        # As ChaliceRequestHandler.__init__, with our gateway: the base class handles the request in __init__.
        self.local_gateway = Gateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's errors (unknown method, malformed request line, oversized headers) as JSON;
        a method it has no handler for is a 405 like any method the route does not serve, not a 501."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            code, name, message = 405, "method_not_allowed", f"Unsupported method: {self.command}"
        else:
            name = HTTPStatus(code).phrase.lower().replace(" ", "_").replace("-", "_")
            message = message or HTTPStatus(code).phrase
        body = error_body(name, message)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD":
            self.wfile.write(body)


def create_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """What `chalice.local.create_local_server` does, with `Handler`."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=Handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.api_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--project-dir", default=os.getcwd(), help="the Chalice project (cloud/)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")  # as `chalice local` does
    config = CLIFactory(project_dir=args.project_dir).create_config_obj(chalice_stage_name=args.stage)
    app = config.chalice_app
    validate_routes(app.routes)
    server = create_server(app, config, args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
