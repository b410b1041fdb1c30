"""Offline test helpers: a loopback LaunchDarkly events sink and a TestData client.

Use them to check, without an account or network, which LaunchDarkly events
your instrumented code produces::

    with LDEventSink() as sink:
        td = TestData.data_source()
        add_ai_config(td, "chat-config", model="gpt-4o", provider="openai")
        client = sink_client(sink, td)
        ...
        events = flush_events(client, sink, processor)

The sink binds 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AI_EVENT_PREFIX = "$ld:ai:"


class LDEventSink:
    """A loopback HTTP server that records LaunchDarkly event payloads.

    Point ``ldclient.Config(events_uri=sink.uri)`` at it. Payloads posted to
    ``/bulk`` are kept in arrival order; ``/diagnostic`` posts are accepted
    and ignored.

    Args:
        status: HTTP status answered to every post (202 like LaunchDarkly;
            a 5xx makes the client retry, for fault tests).
    """

    def __init__(self, status: int = 202):
        self.status = status
        self._condition = threading.Condition()
        self._payloads: list[list[dict[str, Any]]] = []
        sink = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path.rstrip("/").endswith("/bulk"):
                    try:
                        payload = json.loads(body or b"[]")
                    except ValueError:
                        payload = [{"kind": "unparseable", "body": body.decode("utf-8", "replace")}]
                    with sink._condition:
                        sink._payloads.append(payload)
                        sink._condition.notify_all()
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ld-event-sink", daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        """The base URI to give ``ldclient.Config(events_uri=...)``."""
        return "http://127.0.0.1:%d" % self._server.server_port

    @property
    def post_count(self) -> int:
        """How many ``/bulk`` payloads have arrived."""
        with self._condition:
            return len(self._payloads)

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

    def close(self) -> None:
        """Stops the server and frees its port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LDEventSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
