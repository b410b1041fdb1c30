"""A loopback Anthropic Messages API stub for conformance tests.

Like :mod:`openai_stub`, a stdlib ``ThreadingHTTPServer`` on ``127.0.0.1``
(ephemeral port) in a background thread, answering just enough of the
Anthropic API for the real ``anthropic`` client, and the instrumentations
that wrap it, to behave as they do against the real service.

* ``POST /v1/messages``

  * Every response has a fresh id, ``msg_stub_<n>`` (as real ids are unique
    per call), the request's ``model``, and a ``request-id`` header.
  * Usage has Anthropic's own meaning: ``input_tokens`` are the input tokens
    *after the last cache breakpoint*, which exclude
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens``. A request
    with a ``cache_control`` anywhere (top level, system block, message
    content block, tool) gets :data:`CACHED_USAGE` (5 uncached, 100 read,
    20 written: 125 input tokens in all); any other request gets
    :data:`PLAIN_USAGE` (11 input, both cache counts 0). Output is
    :data:`OUTPUT_TOKENS` (7) either way.
  * Tool use: when the request has ``tools`` and its last message is not a
    ``user`` message holding a ``tool_result`` block, the answer is one
    ``tool_use`` block (id :data:`TOOL_USE_ID`, the first tool, input
    :data:`TOOL_INPUT`) and ``stop_reason`` ``"tool_use"``. Otherwise one
    ``text`` block :data:`TEXT` and ``stop_reason`` ``"end_turn"``.
  * Streaming (``"stream": true``): headers, then (after
    ``first_chunk_delay_s``) Anthropic's Server-Sent Events, each with its
    ``event:`` line: ``message_start`` (the message with empty ``content``,
    ``stop_reason`` null and usage with the input and cache counts and a
    placeholder ``output_tokens`` of :data:`MESSAGE_START_OUTPUT_TOKENS`, as
    the API sends), ``content_block_start``, a ``ping``, one
    ``content_block_delta`` per piece (``text_delta`` or
    ``input_json_delta``), ``content_block_stop``, ``message_delta``
    (``stop_reason`` and the *cumulative* usage: the final ``output_tokens``
    and the same input and cache counts) and ``message_stop``.
  * Errors, chosen by the ``model`` name: ``"fail-500"`` is HTTP 500 with
    ``{"type": "error", "error": {"type": "api_error", ...}, "request_id": ...}``,
    ``"fail-529"`` HTTP 529 ``overloaded_error``. The client retries both
    by default: pass ``max_retries=0``.

Every request body is kept in :attr:`AnthropicStub.requests`, its headers in
:attr:`AnthropicStub.request_headers` (the SDK sends trace context by default).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from ldai_otel.testing import LoopbackServer

PLAIN_USAGE = {"input_tokens": 11, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
CACHED_USAGE = {"input_tokens": 5, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 100}
OUTPUT_TOKENS = 7
MESSAGE_START_OUTPUT_TOKENS = 3
"""The placeholder output count of ``message_start`` (the API sends a small one); not the call's output."""

TEXT = "Hello from the stub."
STREAM_PIECES = ("Hello", " from", " the", " stub.")
TOOL_USE_ID = "toolu_stub_1"
TOOL_INPUT = {"city": "Paris"}
TOOL_INPUT_PIECES = ('{"city": ', '"Paris"}')

ERROR_MODELS = {
    "fail-500": (500, "api_error", "Internal server error"),
    "fail-529": (529, "overloaded_error", "Overloaded"),
}


def _has_cache_control(value: Any) -> bool:
    """Whether a request (or any part of it) carries a ``cache_control`` marker."""
    if isinstance(value, dict):
        return "cache_control" in value or any(_has_cache_control(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_cache_control(v) for v in value)
    return False


def _tool_to_call(body: dict[str, Any]) -> str | None:
    """The first tool's name when the model should ask for it, else None."""
    tools = body.get("tools") or []
    if not tools:
        return None
    messages = body.get("messages") or []
    if messages:
        content = messages[-1].get("content")
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return None
    name = tools[0].get("name")
    return name if isinstance(name, str) else None


class _Handler(BaseHTTPRequestHandler):
    """Request handler; the owning :class:`AnthropicStub` is ``server.stub``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keeps the test output quiet."""

    def _send_json(self, status: int, payload: dict[str, Any], request_id: str) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", request_id)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        stub: AnthropicStub = self.server.stub  # type: ignore[attr-defined]
        number = stub._next_number()
        request_id = "req_stub_%d" % number
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            error = {"type": "invalid_request_error", "message": "invalid JSON"}
            self._send_json(400, {"type": "error", "error": error, "request_id": request_id}, request_id)
            return
        stub._record(path, body, dict(self.headers.items()))
        if path != "/v1/messages":
            error = {"type": "not_found_error", "message": "Not found: " + path}
            self._send_json(404, {"type": "error", "error": error, "request_id": request_id}, request_id)
            return
        model = body.get("model", "")
        if model in ERROR_MODELS:
            status, kind, message = ERROR_MODELS[model]
            error = {"type": kind, "message": message}
            self._send_json(status, {"type": "error", "error": error, "request_id": request_id}, request_id)
            return
        usage: dict[str, Any] = dict(CACHED_USAGE if _has_cache_control(body) else PLAIN_USAGE)
        # The API also splits the cache writes by TTL (the default breakpoint is 5 minutes).
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"],
            "ephemeral_1h_input_tokens": 0,
        }
        message_id = "msg_stub_%d" % number
        tool = _tool_to_call(body)
        if body.get("stream"):
            self._stream(message_id, request_id, model, tool, usage, stub.first_chunk_delay_s)
            return
        if tool:
            content: list[dict[str, Any]] = [{"type": "tool_use", "id": TOOL_USE_ID, "name": tool, "input": TOOL_INPUT}]
        else:
            content = [{"type": "text", "text": TEXT}]
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if tool else "end_turn",
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": OUTPUT_TOKENS, "service_tier": "standard"},
        }
        self._send_json(200, message, request_id)

    def _stream(
        self, message_id: str, request_id: str, model: str, tool: str | None, usage: dict[str, Any], delay: float
    ) -> None:
        start_usage = {**usage, "output_tokens": MESSAGE_START_OUTPUT_TOKENS, "service_tier": "standard"}
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            )
        ]
        if tool:
            block: dict[str, Any] = {"type": "tool_use", "id": TOOL_USE_ID, "name": tool, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in TOOL_INPUT_PIECES]
        else:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in STREAM_PIECES]
        events.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}))
        events.append(("ping", {"type": "ping"}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d}) for d in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None},
                    # Cumulative, as the API sends it: the final output count and the input counts again.
                    "usage": {
                        "input_tokens": usage["input_tokens"],
                        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                        "cache_read_input_tokens": usage["cache_read_input_tokens"],
                        "output_tokens": OUTPUT_TOKENS,
                    },
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("request-id", request_id)
        self.end_headers()
        self.close_connection = True
        try:
            if delay:
                self.wfile.flush()
                time.sleep(delay)  # a known lower bound for time to first token
            for name, data in events:
                self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client dropped the stream early; that is allowed


class AnthropicStub(LoopbackServer):
    """An Anthropic Messages API server on a loopback port, in a background thread.

    Attributes:
        base_url: The URL to hand ``anthropic.Anthropic(base_url=...)``, e.g.
            ``"http://127.0.0.1:54321"`` (the client adds ``/v1/messages``).
        requests: ``(path, body)`` for every request received, in order.
        request_headers: Each request's headers (names in lowercase), in the same order.
    """

    def __init__(self, first_chunk_delay_s: float = 0.0) -> None:
        """Starts the server on ``127.0.0.1`` at an ephemeral port.

        Args:
            first_chunk_delay_s: Seconds a stream waits, after its headers,
                before ``message_start``: a lower bound for time to first token.
        """
        self.first_chunk_delay_s = first_chunk_delay_s
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.request_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        super().__init__(_Handler, "anthropic-stub")
        self.base_url = "http://127.0.0.1:%d" % self.port

    def _next_number(self) -> int:
        with self._lock:
            return next(self._numbers)

    def _record(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, body))
            self.request_headers.append({k.lower(): v for k, v in headers.items()})
