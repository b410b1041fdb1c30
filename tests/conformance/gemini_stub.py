"""A loopback Gemini API (Google AI, ``v1beta``) stub for conformance tests.

A stdlib ``ThreadingHTTPServer`` on ``127.0.0.1`` (ephemeral port) in a
background thread answers enough of the Gemini REST API for the real
``google-genai`` client (``genai.Client(api_key=..., http_options=HttpOptions(
base_url=stub.base_url))``) and the instrumentations that wrap it:

* ``POST /{v1,v1beta}/models/{model}:generateContent``: one candidate.
* ``POST /{v1,v1beta}/models/{model}:streamGenerateContent?alt=sse``: Server-Sent
  Events ``data: {...}`` separated by ``\\r\\n\\r\\n`` as Gemini sends them, after
  ``first_chunk_delay_s``; every chunk carries the call's ``responseId`` and
  ``modelVersion`` and a ``usageMetadata`` whose ``candidatesTokenCount`` grows
  chunk by chunk (Gemini reports running totals, not deltas): the last chunk
  holds the call's usage. Summing chunks is therefore visibly wrong. A function
  call streams as one chunk; a thinking request's thought summary comes first.

``usageMetadata`` has Gemini's own meaning:

* ``promptTokenCount`` INCLUDES ``cachedContentTokenCount``;
* ``candidatesTokenCount`` EXCLUDES ``thoughtsTokenCount``;
* ``totalTokenCount`` = prompt + candidates + thoughts + toolUsePrompt.

What the stub answers is chosen by the request:

* the model ``fail-500`` gets HTTP 500 with Gemini's error body
  (``{"error": {"code": 500, "message": ..., "status": "INTERNAL"}}``);
* a request with ``tools`` whose last content is not a ``functionResponse``
  gets a ``functionCall`` part to the first declared function, arguments
  :data:`TOOL_CALL_ARGS`, ``finishReason`` ``STOP`` (as Gemini does);
* a request with ``generationConfig.thinkingConfig`` gets a thought summary
  part (``"thought": true``) and ``thoughtsTokenCount`` :data:`THOUGHTS_TOKENS`;
* a request with ``cachedContent`` gets ``cachedContentTokenCount``
  :data:`CACHED_TOKENS`, included in ``promptTokenCount``;
* a request with a ``googleSearch`` tool gets ``groundingMetadata`` and
  ``toolUsePromptTokenCount`` :data:`TOOL_USE_PROMPT_TOKENS` (not in ``promptTokenCount``).

Usage per call: prompt :data:`PROMPT_TOKENS` (+ :data:`CACHED_TOKENS` when
cached), candidates :data:`CANDIDATES_TOKENS`, thoughts when thinking.
``responseId`` is unique per call. Every request is kept in
:attr:`GeminiStub.requests` as ``(path, body)``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from ldai_otel.testing import LoopbackServer

PROMPT_TOKENS = 11
CANDIDATES_TOKENS = 7
THOUGHTS_TOKENS = 13
CACHED_TOKENS = 100
"""Read from the cached content; part of ``promptTokenCount``."""
TOOL_USE_PROMPT_TOKENS = 9
"""Prompt tokens of a server-side tool's results (Google Search); NOT part of ``promptTokenCount``."""

CHAT_TEXT = "Hello from the Gemini stub."
STREAM_PIECES = (("Hello", 2), (" from the", 4), (" Gemini stub.", CANDIDATES_TOKENS))
"""Text of each streamed chunk and the running ``candidatesTokenCount`` after it."""
THOUGHT_TEXT = "The user wants a greeting."
TOOL_CALL_ARGS = {"city": "Paris"}
API_VERSIONS = ("v1", "v1beta")
"""google-genai 3.x calls ``v1`` by default, ``v1beta`` with ``GOOGLE_GENAI_API_VERSION=beta``."""
ERROR_MODEL = "fail-500"
ERROR_MESSAGE = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"


def _usage(
    *, cached: bool, thinking: bool, searched: bool = False, candidates: int = CANDIDATES_TOKENS
) -> dict[str, Any]:
    prompt = PROMPT_TOKENS + (CACHED_TOKENS if cached else 0)
    thoughts = THOUGHTS_TOKENS if thinking else 0
    tool_use = TOOL_USE_PROMPT_TOKENS if searched else 0
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts + tool_use,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if searched:
        usage["toolUsePromptTokenCount"] = tool_use
        usage["toolUsePromptTokensDetails"] = [{"modality": "TEXT", "tokenCount": tool_use}]
    if cached:
        usage["cachedContentTokenCount"] = CACHED_TOKENS
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": CACHED_TOKENS}]
    if thinking:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _function_to_call(body: dict[str, Any]) -> str | None:
    """The first declared function's name, unless the last content answers a call."""
    declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    if not declarations:
        return None
    contents = body.get("contents") or []
    last_parts = (contents[-1].get("parts") or []) if contents else []
    if any("functionResponse" in part for part in last_parts):
        return None
    return declarations[0].get("name")


class _Handler(BaseHTTPRequestHandler):
    """Request handler; the owning :class:`GeminiStub` is ``server.stub``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Keeps the test output quiet."""

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        """``/{version}/models/{model}:{method}[?alt=sse]``."""
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send_json(
                400, {"error": {"code": 400, "message": "Invalid JSON payload.", "status": "INVALID_ARGUMENT"}}
            )
            return
        stub: GeminiStub = self.server.stub  # type: ignore[attr-defined]
        stub._record(path, body)
        version, _, rest = path.lstrip("/").partition("/models/")
        resource, _, method = rest.partition(":") if version in API_VERSIONS else ("", "", "")
        if method not in ("generateContent", "streamGenerateContent"):
            self._send_json(404, {"error": {"code": 404, "message": "Not found: " + path, "status": "NOT_FOUND"}})
            return
        if resource == ERROR_MODEL:
            self._send_json(500, {"error": {"code": 500, "message": ERROR_MESSAGE, "status": "INTERNAL"}})
            return
        response_id = stub._next_response_id()
        if method == "streamGenerateContent" and "alt=sse" in query:
            self._stream(resource, response_id, body)
        else:
            self._send_json(200, self._answer(resource, response_id, body))

    def _answer(self, model: str, response_id: str, body: dict[str, Any]) -> dict[str, Any]:
        cached = bool(body.get("cachedContent"))
        thinking = "thinkingConfig" in (body.get("generationConfig") or {})
        searched = any("googleSearch" in tool for tool in body.get("tools") or [])
        function = _function_to_call(body)
        parts: list[dict[str, Any]] = []
        if thinking:
            parts.append({"text": THOUGHT_TEXT, "thought": True})
        if function:
            parts.append({"functionCall": {"name": function, "args": TOOL_CALL_ARGS}})
        else:
            parts.append({"text": CHAT_TEXT})
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
        if searched:
            candidate["groundingMetadata"] = {"webSearchQueries": ["hello"], "groundingChunks": []}
        return {
            "candidates": [candidate],
            "usageMetadata": _usage(cached=cached, thinking=thinking, searched=searched),
            "modelVersion": model,
            "responseId": response_id,
        }

    def _stream(self, model: str, response_id: str, body: dict[str, Any]) -> None:
        cached = bool(body.get("cachedContent"))
        thinking = "thinkingConfig" in (body.get("generationConfig") or {})
        function = _function_to_call(body)
        # (parts, running candidatesTokenCount, finishReason) per chunk.
        pieces: list[tuple[list[dict[str, Any]], int, str | None]] = []
        if thinking:
            pieces.append(([{"text": THOUGHT_TEXT, "thought": True}], 0, None))
        if function:
            pieces.append(([{"functionCall": {"name": function, "args": TOOL_CALL_ARGS}}], CANDIDATES_TOKENS, "STOP"))
        else:
            for index, (piece, running) in enumerate(STREAM_PIECES):
                last = index == len(STREAM_PIECES) - 1
                pieces.append(([{"text": piece}], running, "STOP" if last else None))
        chunks = []
        for parts, running, finish_reason in pieces:
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if finish_reason:
                candidate["finishReason"] = finish_reason
            chunks.append(
                {
                    "candidates": [candidate],
                    "usageMetadata": _usage(cached=cached, thinking=thinking, candidates=running),
                    "modelVersion": model,
                    "responseId": response_id,
                }
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        delay = self.server.stub.first_chunk_delay_s  # type: ignore[attr-defined]
        try:
            if delay:
                self.wfile.flush()
                time.sleep(delay)  # a known lower bound for time to first token
            for chunk in chunks:
                self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client dropped the stream early; that is allowed


class GeminiStub(LoopbackServer):
    """A Gemini API server on a loopback port, in a background thread.

    Attributes:
        base_url: What to give ``HttpOptions(base_url=...)``, e.g. ``"http://127.0.0.1:54321"``.
        requests: ``(path, body)`` of every request, in order.
        response_ids: Every ``responseId`` answered, in order.
    """

    def __init__(self, first_chunk_delay_s: float = 0.0) -> None:
        self.first_chunk_delay_s = first_chunk_delay_s
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.response_ids: list[str] = []
        self._lock = threading.Lock()
        super().__init__(_Handler, "gemini-stub")
        self.base_url = "http://127.0.0.1:%d" % self.port

    def _record(self, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append((path, body))

    def _next_response_id(self) -> str:
        # Gemini's ids are ~22 url-safe base64 characters, unique per call.
        with self._lock:
            number = len(self.response_ids) + 1
            response_id = base64.urlsafe_b64encode(b"gemini-stub-%08d" % number).decode().rstrip("=")
            self.response_ids.append(response_id)
        return response_id
