"""Two instrumented apps that export through the Collector with the SDK's real OTLP exporters.

``front`` (OTLP/gRPC) starts each run: a root carrying the ``ld.ai_config.*``
identity, a model call and a tool call; inside the tool call ``tools``, a second
service with its own ``TracerProvider`` and OTLP/HTTP exporter, makes another
model call in the same trace (a cross-service run, joined by being in the
trace). Plain traces without a run are mixed in.
"""

from __future__ import annotations

import time
import uuid

from genai import chat, tool
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

ROOT = {"ld.ai_config.key": "chat-config", "ld.ai_config.variation_key": "v-chat", "ld.ai_config.version": 3}
RUN_KEYS = sorted(
    [
        "$ld:ai:duration:total",
        "$ld:ai:tokens:input",
        "$ld:ai:tokens:output",
        "$ld:ai:tokens:total",
        "$ld:ai:tool_call",
        "$ld:ai:generation:success",
    ]
)
DOWNSTREAM_TOKENS = 7


class Apps:
    """The two services' providers, exporting to one Collector."""

    def __init__(self, grpc_endpoint: str, http_url: str, batch: int = 64, delay_ms: int = 50):
        self.front = self._provider(
            "front", GrpcExporter(endpoint=grpc_endpoint, insecure=True, timeout=30), batch, delay_ms
        )
        self.tools = self._provider("tools", HttpExporter(endpoint=http_url, timeout=30), batch, delay_ms)
        self._front = self.front.get_tracer("front")
        self._tools = self.tools.get_tracer("tools")
        self._down = False

    @staticmethod
    def _provider(name: str, exporter, batch: int, delay_ms: int) -> TracerProvider:
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter, max_queue_size=100_000, max_export_batch_size=batch, schedule_delay_millis=delay_ms
            )
        )
        return provider

    def run(self, n: int, pace_s: float = 0.0) -> tuple[str, int]:
        """One cross-service run of 7 spans (5 in front, 2 in tools); its runId and input tokens.

        ``pace_s`` sleeps that long twice inside the run, so its spans leave in separate batches.
        """
        with self._front.start_as_current_span("agent", attributes=ROOT) as root:
            with self._front.start_as_current_span("handler"):
                chat(self._front, 100 + n, 1)
                time.sleep(pace_s)
                with tool(self._front, "lookup"):
                    # The downstream service, in the same trace (its context propagated).
                    with self._tools.start_as_current_span("POST /lookup", kind=trace.SpanKind.SERVER):
                        chat(self._tools, DOWNSTREAM_TOKENS, 1)
                        time.sleep(pace_s)
            chat(self._front, 0, 1)
        return str(uuid.UUID(int=root.get_span_context().trace_id)), 100 + n + DOWNSTREAM_TOKENS

    def plain(self) -> None:
        """A trace of 4 spans with no run in it."""
        with self._front.start_as_current_span("GET /items"):
            for name in ("SELECT items", "render", "cache get"):
                with self._front.start_as_current_span(name):
                    pass

    def flush(self) -> None:
        assert self.front.force_flush(timeout_millis=120_000)
        assert self.tools.force_flush(timeout_millis=120_000)

    def __enter__(self) -> Apps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Flushes and stops both providers (once; leaving a ``with`` block calls it again)."""
        if self._down:
            return
        self._down = True
        self.front.shutdown()
        self.tools.shutdown()


def run_counts(sink, run_id: str) -> dict[str, int]:
    """How many events of each key arrived at the sink for ``run_id``."""
    counts: dict[str, int] = {}
    for event in sink.ai_events(run_id):
        counts[event["key"]] = counts.get(event["key"], 0) + 1
    return counts


def tally(sink, runs: dict[str, int]) -> dict[str, int]:
    """Runs sent, and how each arrived: once (root once, every token once, late parts as
    continuation segments included), lost (no event), duplicated (counted twice), partial
    (some spans' tokens or tool call missing)."""
    out = {"sent": len(runs), "once": 0, "lost": 0, "duplicated": 0, "partial": 0}
    for run_id, tokens in runs.items():
        events = sink.ai_events(run_id)
        counts = run_counts(sink, run_id)
        roots, tools = counts.get("$ld:ai:duration:total", 0), counts.get("$ld:ai:tool_call", 0)
        got = _sum(events, "$ld:ai:tokens:input"), _sum(events, "$ld:ai:tokens:output")
        if not events:
            out["lost"] += 1
        elif roots > 1 or tools > 1 or got[0] > tokens or got[1] > 3:
            out["duplicated"] += 1
        elif roots == 1 and tools == 1 and got == (tokens, 3):
            out["once"] += 1
        else:
            out["partial"] += 1
    return out


def _sum(events: list[dict], key: str) -> float:
    return sum(e["metricValue"] for e in events if e["key"] == key)
