"""A tiny OpenAI-compatible HTTP stub for conformance tests.

The stub runs a stdlib ``ThreadingHTTPServer`` on ``127.0.0.1`` (an
ephemeral port) in a background thread and answers just enough of the OpenAI
REST API for the real ``openai`` client, and the instrumentation libraries that
wrap it, to behave as they would against the real service.

Every answer is deterministic:

* ``POST /v1/chat/completions``

  * Non-streaming: after ``first_chunk_delay_s``, one ``assistant`` message with content
    :data:`CHAT_CONTENT`, ``finish_reason`` ``"stop"``, and usage
    ``prompt_tokens`` = 11, ``completion_tokens`` = 7, ``total_tokens`` = 18.
  * Streaming (``"stream": true``): headers, then (after
    ``first_chunk_delay_s``, 0 by default) Server-Sent Events: one role chunk, one
    chunk per piece of :data:`STREAM_PIECES`, a final chunk with
    ``finish_reason`` ``"stop"``, then ``data: [DONE]``. When
    ``stream_options.include_usage`` is true, an extra last chunk carries
    ``choices: []`` and the same usage (11 / 7 / 18). Without it no chunk
    carries usage.
  * Tool call: when the request has ``tools`` and its last message is not a
    ``tool`` message, the answer is a single tool call (id
    :data:`TOOL_CALL_ID`) to the first tool in the request, arguments
    :data:`TOOL_CALL_ARGUMENTS`, ``finish_reason`` ``"tool_calls"`` and usage
    11 / 7 / 18 (also when streamed). When the last message has role
    ``tool``, the answer is ordinary text as above.
  * Errors, chosen by the ``model`` name: ``"fail-500"`` gives HTTP 500 and
    ``"fail-429"`` gives HTTP 429, each with an OpenAI-style JSON error body.
    The ``openai`` client retries both by default, so pass
    ``max_retries=0`` to it.

  * Handoffs (OpenAI Agents SDK): when a ``transfer_to_<agent>`` tool is
    offered or was called earlier in the conversation, the answer calls the
    first offered tool not yet called in the conversation, else is text. So
    a triage agent transfers, the specialist calls its tool, then answers.

* ``POST /v1/responses``: the Responses API, see ``responses_stub.py``
  (unique ``resp_...`` ids, usage with cached and reasoning tokens,
  streaming in the Responses event format).

* ``POST /v1/embeddings``: one 8-dimensional embedding per input, usage
  ``prompt_tokens`` = 5, ``total_tokens`` = 5. The error models work here too.

The response ``model`` echoes the request's ``model``; the response ``id`` is
:data:`RESPONSE_ID` (``"chatcmpl-stub-1"``) for chat. Every request body is
kept in :attr:`OpenAIStub.requests` for assertions.

Example:
    >>> with OpenAIStub() as stub:
    ...     client = openai.OpenAI(base_url=stub.base_url, api_key="test",
    ...                            max_retries=0)
    ...     client.chat.completions.create(model="gpt-4o-mini", messages=[...])
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from ldai_otel.testing import LoopbackServer

try:
    import responses_stub
except ImportError:  # imported as ``conformance.openai_stub`` by the main suite (tests/serve/test_serve_node.py)
    from conformance import responses_stub
HANDOFF_PREFIX = responses_stub.HANDOFF_PREFIX

PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7
TOTAL_TOKENS = PROMPT_TOKENS + COMPLETION_TOKENS
EMBEDDING_PROMPT_TOKENS = 5
EMBEDDING_TOTAL_TOKENS = 5
EMBEDDING_DIMENSIONS = 8

RESPONSE_ID = "chatcmpl-stub-1"
CREATED = 1_700_000_000
CHAT_CONTENT = "Hello from the stub."
STREAM_PIECES = ("Hello", " from", " the", " stub.")
TOOL_CALL_ID = "call_stub_1"
TOOL_CALL_ARGUMENTS = '{"city": "Paris"}'
SYSTEM_FINGERPRINT = "fp_stub"

ERROR_MODELS = {
    "fail-500": (500, "server_error", "The stub failed on purpose."),
    "fail-429": (429, "rate_limit_exceeded", "Rate limit reached (stub)."),
}


def _usage() -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": TOTAL_TOKENS,
    }


def _first_tool_name(body: dict[str, Any]) -> str | None:
    """Returns the name of the first tool in a request, if it should be called.

    Args:
        body: The decoded chat completion request.

    Returns:
        The first tool's name when the request has tools and its last message
        is not a ``tool`` message; otherwise ``None``.
    """
    tools = body.get("tools") or []
    messages = body.get("messages") or []
    if _in_a_handoff(tools, messages):
        return _first_tool_not_called(tools, messages)
    if not tools or (messages and messages[-1].get("role") == "tool"):
        return None
    first = tools[0]
    return (first.get("function") or {}).get("name") or first.get("name")


def _tool_names(tools: list[dict[str, Any]]) -> list[str]:
    return [(t.get("function") or {}).get("name") or t.get("name") or "" for t in tools]


def _called_tools(messages: list[dict[str, Any]]) -> set[str]:
    return {
        (call.get("function") or {}).get("name") for message in messages for call in message.get("tool_calls") or []
    }


def _in_a_handoff(tools: list[dict[str, Any]], messages: list[dict[str, Any]]) -> bool:
    """Whether a handoff (an agents SDK ``transfer_to_<agent>`` tool) is offered or was called."""
    names = set(_tool_names(tools)) | _called_tools(messages)
    return any(name and name.startswith(HANDOFF_PREFIX) for name in names)


def _first_tool_not_called(tools: list[dict[str, Any]], messages: list[dict[str, Any]]) -> str | None:
    called = _called_tools(messages)
    return next((name for name in _tool_names(tools) if name not in called), None)


class _Handler(BaseHTTPRequestHandler):
    """Request handler; the owning :class:`OpenAIStub` is ``server.stub``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keeps the test output quiet."""

    # -- plumbing ---------------------------------------------------------

    def _read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_stub")
        self.end_headers()
        self.wfile.write(data)

    def _send_error_for_model(self, model: str) -> bool:
        if model not in ERROR_MODELS:
            return False
        status, code, message = ERROR_MODELS[model]
        self._send_json(
            status,
            {
                "error": {
                    "message": message,
                    "type": "server_error" if status >= 500 else "requests",
                    "param": None,
                    "code": code,
                }
            },
        )
        return True

    # -- routing ----------------------------------------------------------

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        """Dispatches ``POST`` requests by path."""
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = self._read_json()
        except ValueError:
            self._send_json(400, {"error": {"message": "invalid JSON"}})
            return
        self.server.stub._record(path, body)  # type: ignore[attr-defined]
        if path.endswith("/chat/completions"):
            self._chat(body)
        elif path.endswith("/embeddings"):
            self._embeddings(body)
        elif path.endswith("/responses"):
            self._responses(body)
        else:
            self._send_json(404, {"error": {"message": f"no route {path}"}})

    def _chat(self, body: dict[str, Any]) -> None:
        model = body.get("model", "")
        if self._send_error_for_model(model):
            return
        # In a handoff the agents SDK makes several calls in one conversation: unique ids, as the API has.
        handoff = _in_a_handoff(body.get("tools") or [], body.get("messages") or [])
        self._ids = (RESPONSE_ID, TOOL_CALL_ID)
        if handoff:
            self._ids = ("chatcmpl-" + uuid.uuid4().hex, "call_" + uuid.uuid4().hex)
        tool_name = _first_tool_name(body)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._chat_stream(model, tool_name, include_usage)
            return
        if tool_name:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": self._ids[1],
                        "type": "function",
                        "function": {"name": tool_name, "arguments": TOOL_CALL_ARGUMENTS},
                    }
                ],
            }
            finish_reason = "tool_calls"
        else:
            message = {"role": "assistant", "content": CHAT_CONTENT}
            finish_reason = "stop"
        delay = self.server.stub.first_chunk_delay_s  # type: ignore[attr-defined]
        if delay:
            # A whole answer is its first token too: the same known lower bound as a stream's.
            time.sleep(delay)
        self._send_json(
            200,
            {
                "id": self._ids[0],
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": _usage(),
            },
        )

    def _chat_stream(self, model: str, tool_name: str | None, include_usage: bool) -> None:
        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "id": self._ids[0],
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": choices,
                **extra,
            }

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

        if tool_name:
            chunks = [
                chunk(
                    [
                        choice(
                            {
                                "role": "assistant",
                                "content": None,
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": self._ids[1],
                                        "type": "function",
                                        "function": {"name": tool_name, "arguments": ""},
                                    }
                                ],
                            }
                        )
                    ]
                ),
                chunk([choice({"tool_calls": [{"index": 0, "function": {"arguments": TOOL_CALL_ARGUMENTS}}]})]),
                chunk([choice({}, "tool_calls")]),
            ]
        else:
            chunks = [chunk([choice({"role": "assistant", "content": ""})])]
            chunks += [chunk([choice({"content": piece})]) for piece in STREAM_PIECES]
            chunks.append(chunk([choice({}, "stop")]))
        if include_usage:
            for item in chunks:
                item["usage"] = None
            chunks.append(chunk([], usage=_usage()))

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("x-request-id", "req_stub")
        self.end_headers()
        self.close_connection = True
        events = [f"data: {json.dumps(item)}\n\n".encode() for item in chunks]
        events.append(b"data: [DONE]\n\n")
        delay = self.server.stub.first_chunk_delay_s  # type: ignore[attr-defined]
        try:
            if delay:
                self.wfile.flush()
                time.sleep(delay)  # a known lower bound for time to first token
            for event in events:
                self.wfile.write(event)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client dropped the stream early; that is allowed

    def _embeddings(self, body: dict[str, Any]) -> None:
        model = body.get("model", "")
        if self._send_error_for_model(model):
            return
        inputs = body.get("input")
        is_batch = isinstance(inputs, list) and inputs and not isinstance(inputs[0], int)
        count = len(inputs) if is_batch else 1
        vector: list[float] | str = [round(0.1 * (i + 1), 1) for i in range(EMBEDDING_DIMENSIONS)]
        if body.get("encoding_format") == "base64":
            # The openai client asks for base64 (little-endian float32) by default.
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        self._send_json(
            200,
            {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": vector} for i in range(count)],
                "model": model,
                "usage": {
                    "prompt_tokens": EMBEDDING_PROMPT_TOKENS,
                    "total_tokens": EMBEDDING_TOTAL_TOKENS,
                },
            },
        )

    def _responses(self, body: dict[str, Any]) -> None:
        if self._send_error_for_model(body.get("model", "")):
            return
        if not body.get("stream"):
            self._send_json(200, responses_stub.response(body, CHAT_CONTENT))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("x-request-id", "req_stub")
        self.end_headers()
        self.close_connection = True
        delay = self.server.stub.first_chunk_delay_s  # type: ignore[attr-defined]
        try:
            if delay:
                self.wfile.flush()
                time.sleep(delay)
            for event in responses_stub.stream_events(body, STREAM_PIECES):
                self.wfile.write(event)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class OpenAIStub(LoopbackServer):
    """An OpenAI-compatible server on a loopback port, in a background thread.

    The server starts when the object is created. Use it as a context manager,
    or call :meth:`close` when done.

    Attributes:
        base_url: The URL to hand the ``openai`` client, e.g.
            ``"http://127.0.0.1:54321/v1"``.
        requests: ``(path, body)`` for every request received, in order.
    """

    def __init__(self, first_chunk_delay_s: float = 0.0) -> None:
        """Starts the server on ``127.0.0.1`` at an ephemeral port.

        Args:
            first_chunk_delay_s: Seconds a stream waits, after its headers,
                before its first chunk, and a chat completion before its whole
                answer: a lower bound for time to first token.
        """
        self.first_chunk_delay_s = first_chunk_delay_s
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        super().__init__(_Handler, "openai-stub")
        self.base_url = "http://127.0.0.1:%d/v1" % self.port

    def _record(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((path, body))
