"""Several ``ldai-otel serve`` instances behind trace-id routing share nothing (docs/serve.md, "Scale-out").

The Collector's ``loadbalancing`` exporter with ``routing_key: traceID`` sends
every span of a trace to one backend. This test routes the same way itself
(trace id over the live instances) with the real OTLP/gRPC exporter, to three
instances whose events go to one sink, and stops one of them with SIGTERM in
the middle of the stream: it emits every run it holds and exits 0, and the
rest of the stream is routed over the two left, as the exporter's resolver
would once the instance leaves the ring.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack

from genai import chat, tool
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_support import export, start_serve

ROOT = {"ld.ai_config.key": "chat-config", "ld.ai_config.variation_key": "v", "ld.ai_config.version": 4}
RUNS = 30


def runs_by_trace() -> dict[int, tuple[str, int, list]]:
    """RUNS runs of 6 spans; trace id to (runId, input tokens, spans)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "fleet-app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    tokens = {}
    for n in range(RUNS):
        with tracer.start_as_current_span("agent", attributes=ROOT) as root:
            with tracer.start_as_current_span("handler"):
                chat(tracer, 100 + n, 1)
                with tool(tracer, "lookup"):
                    pass
            chat(tracer, 0, 1)
        tokens[root.get_span_context().trace_id] = 100 + n
    provider.shutdown()
    out: dict[int, tuple[str, int, list]] = {}
    for span in memory.get_finished_spans():
        trace_id = span.context.trace_id
        entry = out.setdefault(trace_id, (str(uuid.UUID(int=trace_id)), tokens[trace_id], []))
        entry[2].append(span)
    return out


def test_three_instances_emit_exactly_the_union_and_one_stopped_mid_stream_drains(sink, tmp_path):
    traces = runs_by_trace()
    order = list(traces)
    with ExitStack() as stack:
        fleet = [stack.enter_context(start_serve(sink, tmp_path, "--decision-wait", "600")) for _ in range(3)]
        exporters = [serve.grpc_exporter() for serve in fleet]
        live = [0, 1, 2]
        routed: dict[int, list[int]] = {0: [], 1: [], 2: []}
        for i, trace_id in enumerate(order):
            if i == RUNS // 2:
                # Mid-stream: instance 2 leaves (SIGTERM), holding every run routed to it (600 s wait).
                assert sink.ai_events() == []
                assert fleet[2].terminate() == 0
                assert "%d segment(s) emitted" % len(routed[2]) in fleet[2].output
                live = [0, 1]
            target = live[trace_id % len(live)]
            routed[target].append(trace_id)
            export(exporters[target], traces[trace_id][2])
        assert all(routed.values()), routed  # each instance got a share
        for n in (0, 1):
            assert fleet[n].terminate() == 0
            assert "%d segment(s) emitted" % len(routed[n]) in fleet[n].output
    for run_id, tokens, _ in traces.values():
        got = sorted((e["key"], e["metricValue"]) for e in sink.ai_events(run_id))
        assert [k for k, _ in got] == sorted(
            [
                "$ld:ai:duration:total",
                "$ld:ai:tokens:input",
                "$ld:ai:tokens:output",
                "$ld:ai:tokens:total",
                "$ld:ai:tool_call",
                "$ld:ai:generation:success",
            ]
        ), run_id
        assert dict(got)["$ld:ai:tokens:input"] == tokens
    assert {e["data"]["runId"] for e in sink.ai_events()} == {run_id for run_id, _, _ in traces.values()}
