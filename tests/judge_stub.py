"""A loopback OpenAI chat-completions server for the online-evaluation tests.

It answers a plain chat request with a short answer, and a judge's request
(``response_format`` of type ``json_schema``, as ldai's judges send it) with
``{"score": ..., "reasoning": ...}``; every answer has a unique id and usage.
Judge requests can be told to fail (HTTP 500) or to hang until the stub closes.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from ldai_otel.testing import LoopbackServer

APP_USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
JUDGE_USAGE = {"prompt_tokens": 57, "completion_tokens": 19, "total_tokens": 76}


def point_openai_at(monkeypatch: Any, stub: OpenAIStub, capture: bool = True) -> None:
    """The ``openai`` client (and ldai's judges) to ``stub``; openai-v2 on the latest GenAI conventions.

    ``capture`` turns openai-v2's message content capture on (into span attributes) or off.
    """
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    if capture:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    else:
        monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)


class OpenAIStub(LoopbackServer):
    """Loopback chat completions; ``base_url`` is what ``OPENAI_BASE_URL`` takes.

    Attributes:
        judge_mode: ``"score"`` (answer the score), ``"fail"`` (500) or ``"hang"``.
        hang_model: Judge requests for this model hang whatever the mode.
        judge_delay_s: Seconds a judge's answer is held back (a slow judge).
        score: The score a judge request gets.
        answer: The content of a plain chat answer.
        requests: Every request body received, in order.
    """

    def __init__(self) -> None:
        self.judge_mode = "score"
        self.hang_model: str | None = None
        self.judge_delay_s = 0.0
        self.score = 0.8
        self.answer = "Paris is the capital of France."
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._release = threading.Event()
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with stub._lock:
                    stub.requests.append(body)
                    n = next(stub._ids)
                judge = isinstance(body.get("response_format"), dict)
                if judge and (stub.judge_mode == "hang" or body.get("model") == stub.hang_model):
                    stub._release.wait()
                    self._send(503, {"error": {"message": "stub closed"}})
                    return
                if judge and stub.judge_delay_s:
                    stub._release.wait(stub.judge_delay_s)
                if judge and stub.judge_mode == "fail":
                    self._send(500, {"error": {"message": "judge stub failure", "type": "server_error"}})
                    return
                if judge:
                    content = json.dumps({"score": stub.score, "reasoning": "The answer is relevant."})
                    usage = JUDGE_USAGE
                else:
                    content, usage = stub.answer, APP_USAGE
                self._send(
                    200,
                    {
                        "id": "chatcmpl-stub-%d" % n,
                        "object": "chat.completion",
                        "created": 1700000000,
                        "model": body.get("model", "gpt-test"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a judge's timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        super().__init__(_Handler, "openai-stub")

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1:%d/v1" % self.port

    def judge_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if isinstance(r.get("response_format"), dict)]

    def close(self) -> None:
        self._release.set()  # hanging judge requests are let go, not left waiting on a closed stub
        super().close()
