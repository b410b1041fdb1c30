"""Offline test helpers: a loopback LaunchDarkly events sink and a TestData client.

Use them to check, without an account or network, which LaunchDarkly events
your instrumented code produces (:class:`OpenAIStub` stands in for a model
provider, for the real ``openai`` client and its instrumentations)::

    with LDEventSink() as sink:
        td = TestData.data_source()
        add_ai_config(td, "chat-config", model="gpt-4o", provider="openai")
        client = sink_client(sink, td)
        ...
        events = flush_events(client, sink, processor)

The sink and the stub bind 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

AI_EVENT_PREFIX = "$ld:ai:"
_STUB_CONTENT = "Hello from the stub."  # every OpenAIStub answer

_Server = TypeVar("_Server", bound="LoopbackServer")


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1, at a port the OS picks, serving from a daemon thread.

    The base of the loopback stubs here (:class:`LDEventSink`, :class:`OpenAIStub`) and of the
    test suite's provider stubs: it starts serving when made, and :meth:`close` stops it and frees
    its port (safe to call twice; ``with`` closes it too). Handlers reach the stub that owns the
    server as ``self.server.stub``.

    Args:
        handler: The request handler class.
        name: The serving thread's name.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.stub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_port)

    def close(self) -> None:
        """Stops the server and frees its port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self: _Server) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LDEventSink(LoopbackServer):
    """A loopback HTTP server that records LaunchDarkly event payloads.

    Point ``ldclient.Config(events_uri=sink.uri)`` at it. Payloads posted to
    ``/bulk`` are kept in arrival order; ``/diagnostic`` posts are accepted,
    and only their path is kept (:attr:`paths`, every post's).

    Args:
        status: HTTP status answered to every post (202 like LaunchDarkly;
            a 5xx makes the client retry, for fault tests).
        delay_s: Seconds each ``/bulk`` answer is held back after its payload is
            recorded (a slow events endpoint, for fault tests); may be changed later.
    """

    def __init__(self, status: int = 202, delay_s: float = 0.0):
        self.status = status
        self.delay_s = delay_s
        self._condition = threading.Condition()
        self._payloads: list[list[dict[str, Any]]] = []
        self._paths: list[str] = []
        sink = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with sink._condition:
                    sink._paths.append(self.path)
                if self.path.rstrip("/").endswith("/bulk"):
                    try:
                        payload = json.loads(body or b"[]")
                    except ValueError:
                        payload = [{"kind": "unparseable", "body": body.decode("utf-8", "replace")}]
                    with sink._condition:
                        sink._payloads.append(payload)
                        sink._condition.notify_all()
                    if sink.delay_s > 0:
                        time.sleep(sink.delay_s)
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        super().__init__(_Handler, "ld-event-sink")

    @property
    def uri(self) -> str:
        """The base URI to give ``ldclient.Config(events_uri=...)``."""
        return "http://127.0.0.1:%d" % self.port

    @property
    def post_count(self) -> int:
        """How many ``/bulk`` payloads have arrived."""
        with self._condition:
            return len(self._payloads)

    @property
    def paths(self) -> list[str]:
        """The path of every post so far, ``/diagnostic`` ones included, in order."""
        with self._condition:
            return list(self._paths)

    def wait_for_posts(self, count: int, timeout_s: float = 10.0) -> bool:
        """Waits until at least ``count`` payloads have arrived."""
        with self._condition:
            return self._condition.wait_for(lambda: len(self._payloads) >= count, timeout=timeout_s)

    def wait_for_event(self, predicate: Any, timeout_s: float = 10.0) -> bool:
        """Waits until an event matching ``predicate`` has arrived."""

        def found() -> bool:
            return any(predicate(event) for payload in self._payloads for event in payload)

        with self._condition:
            return self._condition.wait_for(found, timeout=timeout_s)

    def events(self) -> list[dict[str, Any]]:
        """Every event received so far, in order."""
        with self._condition:
            return [event for payload in self._payloads for event in payload]

    def ai_events(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Custom ``$ld:ai:*`` events that carry a runId (optionally one run's)."""
        found = []
        for event in self.events():
            data = event.get("data")
            if event.get("kind") != "custom" or not str(event.get("key", "")).startswith(AI_EVENT_PREFIX):
                continue
            if not isinstance(data, dict) or "runId" not in data:
                continue
            if run_id is None or data["runId"] == run_id:
                found.append(event)
        return found

    def clear(self) -> None:
        """Forgets what has arrived."""
        with self._condition:
            self._payloads.clear()
            self._paths.clear()


def add_ai_config(
    td: Any,
    key: str,
    *,
    variation_key: str = "variation-a",
    version: int = 1,
    model: str = "gpt-test",
    provider: str = "openai",
    enabled: bool = True,
    messages: list[dict[str, str]] | None = None,
    judges: dict[str, float] | None = None,
) -> None:
    """Adds an AI Config flag to an ``ldclient`` ``TestData`` source.

    Args:
        judges: Judge config key -> sampling rate (0 to 1): the variation's
            ``judgeConfiguration``. Add each judge with :func:`add_judge_config`.
    """
    value: dict[str, Any] = {
        "_ldMeta": {"enabled": enabled, "variationKey": variation_key, "version": version},
        "model": {"name": model},
        "provider": {"name": provider},
        "messages": messages or [{"role": "system", "content": "You are helpful."}],
    }
    if judges:
        value["judgeConfiguration"] = {"judges": [{"key": k, "samplingRate": rate} for k, rate in judges.items()]}
    td.update(td.flag(key).variations(value).variation_for_all(0))


def add_judge_config(
    td: Any,
    key: str,
    metric_key: str,
    *,
    variation_key: str = "judge-variation-a",
    version: int = 1,
    model: str = "gpt-judge",
    provider: str = "openai",
    instructions: str = "You judge how relevant the response is to the question.",
) -> None:
    """Adds a judge AI Config flag (mode ``judge``) to an ``ldclient`` ``TestData`` source.

    Args:
        metric_key: Its ``evaluationMetricKey``: the event key of its results
            (``$ld:ai:judge:relevance``, ...).
        provider: The provider package ldai runs the judge with (``openai``
            needs ``launchdarkly-server-sdk-ai-openai``: the ``judges`` extra).
    """
    value = {
        "_ldMeta": {"enabled": True, "variationKey": variation_key, "version": version, "mode": "judge"},
        "model": {"name": model},
        "provider": {"name": provider},
        "messages": [{"role": "system", "content": instructions}],
        "evaluationMetricKey": metric_key,
    }
    td.update(td.flag(key).variations(value).variation_for_all(0))


def add_agent_graph(
    td: Any,
    key: str,
    root: str,
    edges: dict[str, list[str]],
    *,
    variation_key: str = "graph-variation-a",
    version: int = 1,
) -> None:
    """Adds an agent graph flag to an ``ldclient`` ``TestData`` source.

    ``edges`` maps a node key to the node keys it hands off to. Each node is
    an AI Config of its own: add them with :func:`add_ai_config`.
    """
    value = {
        "_ldMeta": {"enabled": True, "variationKey": variation_key, "version": version},
        "root": root,
        "edges": {source: [{"key": target, "handoff": {}} for target in targets] for source, targets in edges.items()},
    }
    td.update(td.flag(key).variations(value).variation_for_all(0))


def sink_client(sink: LDEventSink, td: Any, sdk_key: str = "sdk-ldai-otel-test") -> Any:
    """A real ``ldclient.LDClient`` on ``td`` whose events go to ``sink``.

    Events are flushed only when asked (flush interval of an hour), so a test
    sees one payload per flush.
    """
    from ldclient import Config, LDClient

    config = Config(
        sdk_key,
        update_processor_class=td,
        events_uri=sink.uri,
        send_events=True,
        diagnostic_opt_out=True,
        flush_interval=3600,
    )
    return LDClient(config=config, start_wait=5)


_MARKER_KEY = "ldai-otel:flush-marker"
_marker_lock = threading.Lock()
_marker_seq = 0


def flush_events(
    ld_client: Any, sink: LDEventSink, processor: Any = None, timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    """Flushes the processor and the client, waits for delivery, returns AI run events.

    Delivery is confirmed with a marker: a custom event tracked just before
    the processor hands its segments to the client and the client is asked
    to flush once. That one flush sends the marker and the run events in one
    payload, so when the marker has arrived, so have they. (Two flushes would
    not do: the client posts payloads from a pool of threads, in no set order.)

    Returns:
        The ``$ld:ai:*`` custom events with a runId received so far.
    """
    global _marker_seq
    from ldclient import Context

    with _marker_lock:
        _marker_seq += 1
        seq = _marker_seq
    ld_client.track(_MARKER_KEY, Context.create("ldai-otel-flush-marker"), {"seq": seq})
    if processor is not None:
        processor.force_flush()  # emits, then asks the client to flush
    else:
        ld_client.flush()
    sink.wait_for_event(
        lambda e: e.get("key") == _MARKER_KEY and isinstance(e.get("data"), dict) and e["data"].get("seq") == seq,
        timeout_s,
    )
    return sink.ai_events()


class OpenAIStub(LoopbackServer):
    """A loopback OpenAI-compatible server: ``POST /v1/chat/completions``.

    Enough of the API for the real ``openai`` client and the GenAI
    instrumentations that wrap it: every answer has a unique ``chatcmpl-``
    id and the usage given here; ``"stream": true`` answers Server-Sent
    Events, with a last usage chunk when ``stream_options.include_usage`` is
    set (as OpenAI does). The model ``"fail-500"`` gets an HTTP 500 (give the
    client ``max_retries=0``). Point the client at :attr:`base_url`.

    Args:
        prompt_tokens: ``usage.prompt_tokens`` of every answer.
        completion_tokens: ``usage.completion_tokens`` of every answer.
    """

    def __init__(self, prompt_tokens: int = 11, completion_tokens: int = 7):
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = None
                if not isinstance(body, dict) or not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                with stub._lock:
                    stub._requests.append(body)
                model = str(body.get("model", ""))
                if model == "fail-500":
                    self._send(500, {"error": {"message": "The stub failed on purpose.", "type": "server_error"}})
                    return
                answer = stub._answer(model)
                if body.get("stream"):
                    self._stream(answer, bool((body.get("stream_options") or {}).get("include_usage")))
                else:
                    self._send(200, answer)

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, answer: dict[str, Any], include_usage: bool) -> None:
                head = {k: answer[k] for k in ("id", "created", "model")}
                head["object"] = "chat.completion.chunk"
                deltas = [
                    ({"role": "assistant", "content": ""}, None),
                    ({"content": _STUB_CONTENT}, None),
                    ({}, "stop"),
                ]
                chunks = [
                    dict(head, choices=[{"index": 0, "delta": d, "finish_reason": f}], usage=None) for d, f in deltas
                ]
                if include_usage:
                    chunks.append(dict(head, choices=[], usage=answer["usage"]))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                for chunk in chunks:
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        super().__init__(_Handler, "openai-stub")

    def _answer(self, model: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex,
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": _STUB_CONTENT}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
        }

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give ``openai.OpenAI(base_url=...)``."""
        return "http://127.0.0.1:%d/v1" % self.port

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat requests received so far, in order."""
        with self._lock:
            return list(self._requests)
