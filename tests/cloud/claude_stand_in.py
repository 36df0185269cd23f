"""A local stand-in for the Anthropic Messages API (`POST /v1/messages`) on 127.0.0.1: a small threaded
http.server the real anthropic SDK reaches through `base_url`, so the tests exercise the client, its
timeout and its parsing of real HTTP answers (never a patched function).

Each test sets `answer` (what the next requests get): a tool input, a whole message body, an HTTP error, or
a delay. Every request is kept (headers and JSON body) for assertions.

`python -m tests.cloud.claude_stand_in --port 8090` runs it alone (every suggestion is `GOOD`), for `make run`
without a key: `ANTHROPIC_API_KEY=local ANTHROPIC_BASE_URL=http://127.0.0.1:8090 make run` (README, "A patient
at home").
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL = "record_tag_set"
GOOD = {"overall_tracking": 2, "oral_hygiene": 1, "detail_tags": ["ATTACHMENT_MISSING", "PLAQUE"]}


@dataclass
class Answer:
    tool_input: Any = field(default_factory=lambda: dict(GOOD))
    message: dict[str, Any] | None = None  # a whole message body instead of the tool call
    status: int = 200
    delay_seconds: float = 0.0
    input_tokens: int = 6100
    output_tokens: int = 48


def message(tool_input: Any, *, model: str, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "id": "msg_standin",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "tool_use", "id": "toolu_standin", "name": TOOL, "input": tool_input}],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the SDK may open several connections at once

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small answers must not wait for Nagle
        return conn, address


class StandIn:
    def __init__(self, port: int = 0) -> None:
        self.answer = Answer()
        self.requests: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                headers = {name.lower(): value for name, value in self.headers.items()}
                stand_in.requests.append({"path": self.path, "headers": headers, "body": body})
                answer = stand_in.answer
                if answer.delay_seconds:
                    stand_in.stopping.wait(answer.delay_seconds)
                if self.path != "/v1/messages":
                    self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
                elif answer.status != 200:
                    self._send(answer.status, {"type": "error", "error": {"type": "api_error", "message": "boom"}})
                else:
                    reply = answer.message or message(answer.tool_input, model=body.get("model", "?"),
                                                      input_tokens=answer.input_tokens,
                                                      output_tokens=answer.output_tokens)  # fmt: skip
                    self._send(200, reply)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("request-id", "req_standin")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nobody is left to answer

        self.server = _Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="claude-stand-in", daemon=True)

    def reset(self, answer: Answer | None = None) -> None:
        self.answer = answer or Answer()
        self.requests.clear()

    def start(self) -> StandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running() -> Iterator[StandIn]:
    stand_in = StandIn().start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local stand-in for the Anthropic Messages API (tests, make run).")
    parser.add_argument("--port", type=int, default=8090)
    port = parser.parse_args().port
    stand_in = StandIn(port)
    print(f"Messages API stand-in at {stand_in.url}: every answer records {GOOD} (Ctrl-C stops)", flush=True)
    try:
        stand_in.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stand_in.server.server_close()


if __name__ == "__main__":
    main()
