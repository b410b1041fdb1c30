"""A loopback Amazon Bedrock Runtime stub (Converse and ConverseStream) for conformance tests.

A stdlib ``ThreadingHTTPServer`` on ``127.0.0.1`` (ephemeral port) answers the
two REST routes ``boto3``'s ``bedrock-runtime`` client calls, the way the real
service does, so botocore's own parsers (JSON and ``application/vnd.amazon.eventstream``)
and the instrumentations wrapping them see real-shaped responses:

* ``POST /model/{modelId}/converse``: ``output.message`` (role ``assistant``),
  ``stopReason``, ``usage`` and ``metrics.latencyMs``.
* ``POST /model/{modelId}/converse-stream``: the binary event stream (each
  message: prelude with total and headers length and its CRC32, string
  headers ``:event-type`` / ``:content-type`` / ``:message-type``, a JSON
  payload, the message CRC32): ``messageStart``, ``contentBlockStart`` (tool
  use only, as AWS sends it), ``contentBlockDelta`` ..., ``contentBlockStop``,
  ``messageStop``, ``metadata`` (usage and ``metrics.latencyMs``). botocore has
  an event-stream decoder and no encoder, so the framing is written here.

Usage has AWS's meaning: ``inputTokens`` EXCLUDES the tokens read from or
written to the prompt cache, ``totalTokens`` includes them:

* a request with no ``cachePoint`` block: input 11, output 7, total 18;
* a request with a ``cachePoint`` block (in ``system`` or a message): input 5,
  ``cacheReadInputTokens`` 100, ``cacheWriteInputTokens`` 20, output 7, total 132.
  LaunchDarkly's input for it is 5 + 100 + 20 = 125.

A request with ``toolConfig`` whose last message carries no ``toolResult`` is
answered with one ``toolUse`` block (to the first tool, input
:data:`TOOL_INPUT`, a fresh ``toolUseId``) and ``stopReason`` ``"tool_use"``.

Model id ``fail-500`` is answered with HTTP 500 the way Bedrock fails:
``x-amzn-ErrorType: InternalServerException:...`` and a JSON ``message`` body.
Model id ``fail-midstream`` on ConverseStream is HTTP 200, ``messageStart``, one
delta, then an ``internalServerException`` exception message inside the stream
(botocore raises ``EventStreamError`` while the app iterates).

Every answer carries a unique ``x-amzn-RequestId`` (botocore's
``ResponseMetadata.RequestId``); the ids are kept in :attr:`BedrockStub.request_ids`.
"""

from __future__ import annotations

import json
import struct
import threading
import time
import uuid
from binascii import crc32
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from ldai_otel.testing import LoopbackServer

INPUT_TOKENS = 11
OUTPUT_TOKENS = 7
CACHED_INPUT_TOKENS = 5
CACHE_READ_TOKENS = 100
CACHE_WRITE_TOKENS = 20
LATENCY_MS = 42
TEXT = "Hello from the stub."
STREAM_PIECES = ("Hello", " from", " the", " stub.")
TOOL_INPUT = {"city": "Paris"}
ERROR_MODEL = "fail-500"
ERROR_TYPE = "InternalServerException:http://internal.amazon.com/coral/com.amazon.bedrock/"
ERROR_MESSAGE = "The stub failed on purpose."
MIDSTREAM_ERROR_MODEL = "fail-midstream"


def usage_for(cached: bool) -> dict[str, int]:
    """AWS's ``usage`` for a request with (``cached``) or without a ``cachePoint``."""
    if not cached:
        return {"inputTokens": INPUT_TOKENS, "outputTokens": OUTPUT_TOKENS, "totalTokens": INPUT_TOKENS + OUTPUT_TOKENS}
    return {
        "inputTokens": CACHED_INPUT_TOKENS,
        "outputTokens": OUTPUT_TOKENS,
        "totalTokens": CACHED_INPUT_TOKENS + CACHE_READ_TOKENS + CACHE_WRITE_TOKENS + OUTPUT_TOKENS,
        "cacheReadInputTokens": CACHE_READ_TOKENS,
        "cacheWriteInputTokens": CACHE_WRITE_TOKENS,
    }


def _has_cache_point(body: dict[str, Any]) -> bool:
    blocks = list(body.get("system") or [])
    for message in body.get("messages") or []:
        blocks.extend(message.get("content") or [])
    return any(isinstance(block, dict) and "cachePoint" in block for block in blocks)


def _tool_to_call(body: dict[str, Any]) -> str | None:
    """The first tool's name when the model should ask for it, else None."""
    tools = (body.get("toolConfig") or {}).get("tools") or []
    messages = body.get("messages") or []
    if not tools:
        return None
    if messages and any("toolResult" in block for block in messages[-1].get("content") or []):
        return None
    return (tools[0].get("toolSpec") or {}).get("name")


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # Header value type 7: string (uint16 length + UTF-8 bytes).
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", 7, len(raw_value)) + raw_value


def encode_event(event_type: str, payload: dict[str, Any], message_type: str = "event") -> bytes:
    """One ``application/vnd.amazon.eventstream`` message carrying ``payload`` as JSON.

    ``message_type`` ``"exception"`` makes it a modeled error inside the stream
    (``event_type`` is then the exception's name, e.g. ``internalServerException``).
    """
    kind = ":exception-type" if message_type == "exception" else ":event-type"
    headers = (
        _header(kind, event_type)
        + _header(":content-type", "application/json")
        + _header(":message-type", message_type)
    )
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack("!I", crc32(message) & 0xFFFFFFFF)


class _Handler(BaseHTTPRequestHandler):
    """Request handler; the owning :class:`BedrockStub` is ``server.stub``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keeps the test output quiet."""

    def _start(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("x-amzn-RequestId", self.server.stub._new_request_id())  # type: ignore[attr-defined]
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
            # The stream's connection is closed after it (close_connection): say so, or the
            # client's pool reuses a socket the stub is closing and the next call fails.
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send_json(self, status: int, payload: dict[str, Any], error_type: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", self.server.stub._new_request_id())  # type: ignore[attr-defined]
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        """Routes ``/model/{modelId}/converse`` and ``/model/{modelId}/converse-stream``."""
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if len(parts) != 3 or parts[0] != "model" or parts[2] not in ("converse", "converse-stream"):
            self._send_json(404, {"message": "no route " + self.path}, "UnknownOperationException")
            return
        model_id, operation = unquote(parts[1]), parts[2]
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send_json(400, {"message": "Malformed input request"}, "ValidationException")
            return
        self.server.stub._record(model_id, operation, body)  # type: ignore[attr-defined]
        if model_id == ERROR_MODEL:
            self._send_json(500, {"message": ERROR_MESSAGE}, ERROR_TYPE)
            return
        tool = _tool_to_call(body)
        usage = usage_for(_has_cache_point(body))
        if model_id == MIDSTREAM_ERROR_MODEL and operation == "converse-stream":
            self._converse_stream(None, usage, fail_midstream=True)
        elif operation == "converse":
            self._converse(tool, usage)
        else:
            self._converse_stream(tool, usage)

    def _converse(self, tool: str | None, usage: dict[str, int]) -> None:
        if tool:
            content: list[dict[str, Any]] = [
                {"toolUse": {"toolUseId": _tool_use_id(), "name": tool, "input": TOOL_INPUT}}
            ]
            stop_reason = "tool_use"
        else:
            content = [{"text": TEXT}]
            stop_reason = "end_turn"
        self._send_json(
            200,
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop_reason,
                "usage": usage,
                "metrics": {"latencyMs": LATENCY_MS},
            },
        )

    def _converse_stream(self, tool: str | None, usage: dict[str, int], fail_midstream: bool = False) -> None:
        events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
        if fail_midstream:
            # HTTP 200, a first delta, then the service fails inside the stream, as AWS does.
            events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": STREAM_PIECES[0]}}))
            events.append(("internalServerException", {"message": ERROR_MESSAGE}))
            stop_reason = ""
        elif tool:
            events.append(
                (
                    "contentBlockStart",
                    {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": _tool_use_id(), "name": tool}}},
                )
            )
            events.append(
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": json.dumps(TOOL_INPUT)}}})
            )
            stop_reason = "tool_use"
        else:
            events += [
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}) for piece in STREAM_PIECES
            ]
            stop_reason = "end_turn"
        if stop_reason:
            events.append(("contentBlockStop", {"contentBlockIndex": 0}))
            events.append(("messageStop", {"stopReason": stop_reason}))
            events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": LATENCY_MS}}))
        self._start(200, "application/vnd.amazon.eventstream", None)
        self.close_connection = True
        delay = self.server.stub.first_chunk_delay_s  # type: ignore[attr-defined]
        try:
            self.wfile.flush()
            if delay:
                time.sleep(delay)  # a known lower bound for time to first token
            for event_type, payload in events:
                message_type = "exception" if event_type.endswith("Exception") else "event"
                frame = encode_event(event_type, payload, message_type)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client dropped the stream early; that is allowed


def _tool_use_id() -> str:
    return "tooluse_" + uuid.uuid4().hex[:22]


class BedrockStub(LoopbackServer):
    """A Bedrock Runtime server on a loopback port, in a background thread.

    Attributes:
        endpoint_url: The URL to hand ``boto3.client("bedrock-runtime", endpoint_url=...)``.
        requests: ``(model id, operation, body)`` for every routed request, in order.
        request_ids: Every ``x-amzn-RequestId`` sent, in order.
    """

    def __init__(self, first_chunk_delay_s: float = 0.0) -> None:
        """Starts the server on ``127.0.0.1`` at an ephemeral port.

        Args:
            first_chunk_delay_s: Seconds a stream waits, after its headers, before
                its first event: a lower bound for time to first token.
        """
        self.first_chunk_delay_s = first_chunk_delay_s
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.request_ids: list[str] = []
        self._lock = threading.Lock()
        super().__init__(_Handler, "bedrock-stub")
        self.endpoint_url = "http://127.0.0.1:%d" % self.port

    def _record(self, model_id: str, operation: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((model_id, operation, body))

    def _new_request_id(self) -> str:
        request_id = str(uuid.uuid4())
        with self._lock:
            self.request_ids.append(request_id)
        return request_id

    def client(self) -> Any:
        """A real ``boto3`` ``bedrock-runtime`` client on this stub: dummy credentials, one attempt per call."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "bedrock-runtime",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="AKIDSTUB",
            aws_secret_access_key="stub-secret",
            aws_session_token="stub-token",
            # total_max_attempts, not max_attempts: botocore's max_attempts counts RETRIES
            # (max_attempts=1 sends a failing call twice); one attempt makes an error one call.
            config=Config(retries={"total_max_attempts": 1}),
        )
