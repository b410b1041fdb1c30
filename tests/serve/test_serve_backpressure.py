"""``ldai-otel serve`` under load: refusal with retryable codes, not loss (docs/serve.md, "Bounded").

The SDK's own ``BatchSpanProcessor`` and the real OTLP exporters (which retry
429/503 with ``Retry-After`` and gRPC ``RESOURCE_EXHAUSTED`` with a
``RetryInfo``) push runs much faster than serve, started with small bounds,
can decide them. Serve refuses what would take it past ``--max-spans``; the
exporters hold and resend; every run still reaches the sink exactly once, and
the most spans serve ever held (its ``spans_peak`` metric) stays within the bound.
"""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import grpc
import pytest
from conftest import CHAT
from genai import chat, tool
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_support import export, metrics_of, start_serve

ROOT = {"ld.ai_config.key": CHAT, "ld.ai_config.variation_key": "v-chat", "ld.ai_config.version": 3}
RUNS = 150
MAX_SPANS = 120


def eight_span_run(tracer, n: int) -> str:
    """A run of 8 spans (root, handler, 3 model calls, a tool, 2 plain spans); returns its runId."""
    with tracer.start_as_current_span("agent", attributes=ROOT) as root:
        with tracer.start_as_current_span("handler"):
            chat(tracer, 10 + n, 1)
            with tool(tracer, "search"):
                with tracer.start_as_current_span("db query"):
                    pass
            chat(tracer, 1, 1)
        with tracer.start_as_current_span("render"):
            pass
        chat(tracer, 1, 1)
    return str(uuid.UUID(int=root.get_span_context().trace_id))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_producer_faster_than_serve_loses_nothing_and_serve_holds_at_most_its_bound(protocol, sink, tmp_path):
    flags = ("--decision-wait", "0.5", "--max-spans", str(MAX_SPANS), "--max-traces", "1000")
    with start_serve(sink, tmp_path, *flags) as serve:
        exporter = serve.grpc_exporter(timeout=60) if protocol == "grpc" else serve.http_exporter(timeout=60)
        provider = TracerProvider(resource=Resource.create({"service.name": "busy-app"}))
        # A queue that holds every span: a loss here would be the SDK's, not serve's.
        provider.add_span_processor(
            BatchSpanProcessor(exporter, max_queue_size=RUNS * 8, max_export_batch_size=40, schedule_delay_millis=10)
        )
        tracer = provider.get_tracer("app")
        run_ids = [eight_span_run(tracer, n) for n in range(RUNS)]
        assert provider.force_flush(timeout_millis=300_000)
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
        provider.shutdown()
    refused = metrics['ldai_otel_serve_spans_refused_total{reason="buffer_full"}']
    # Pushed faster than it drains: serve refused (and the exporter resent) many requests.
    assert refused >= 40, metrics
    assert metrics["ldai_otel_serve_spans_peak"] <= MAX_SPANS
    assert metrics["ldai_otel_serve_spans_received_total"] == RUNS * 8
    assert metrics["ldai_otel_serve_traces_evicted_total"] == 0
    for n, run_id in enumerate(run_ids):
        got = sorted((e["key"], e["metricValue"]) for e in sink.ai_events(run_id))
        assert [k for k, _ in got].count("$ld:ai:tokens:input") == 1, run_id
        assert dict(got)["$ld:ai:tokens:input"] == 10 + n + 2
        assert len(got) == 6  # duration, three token events, one tool call, success: once each
    print(
        "backpressure %s: %d runs, %d spans refused and resent, peak %d of %d held"
        % (protocol, RUNS, refused, metrics["ldai_otel_serve_spans_peak"], MAX_SPANS)
    )


def test_a_full_buffer_answers_429_and_resource_exhausted_with_retry_info_and_takes_nothing(sink, tmp_path):
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    first = eight_span_run(tracer, 0)
    spans = memory.get_finished_spans()
    memory.clear()
    second = encode_spans(list(_spans_of(tracer, memory))).SerializeToString()
    with start_serve(sink, tmp_path, "--decision-wait", "600", "--max-spans", "10") as serve:
        export(serve.grpc_exporter(), spans)  # 8 of 10: the next 8 do not fit
        request = urllib.request.Request(
            serve.http_url, data=second, headers={"Content-Type": "application/x-protobuf"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert (refused.value.code, refused.value.headers["Retry-After"]) == (429, "5")
        with grpc.insecure_channel(serve.grpc_endpoint) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as exhausted:
                stub.Export(ExportTraceServiceRequest.FromString(second), timeout=10)
        assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "at --max-spans (10)" in exhausted.value.details()
        trailers = dict(exhausted.value.trailing_metadata())
        assert trailers["google.rpc.retryinfo-bin"] == b"\n\x02\x08\x05"  # RetryInfo{retry_delay: 5s}
        assert b"type.googleapis.com/google.rpc.RetryInfo" in trailers["grpc-status-details-bin"]
        too_many = encode_spans(list(_spans_of(tracer, memory, runs=2))).SerializeToString()
        with pytest.raises(urllib.error.HTTPError) as too_large:
            urllib.request.urlopen(
                urllib.request.Request(
                    serve.http_url, data=too_many, headers={"Content-Type": "application/x-protobuf"}
                ),
                timeout=10,
            )
        assert too_large.value.code == 413 and b"over --max-spans (10)" in too_large.value.read()
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    provider.shutdown()
    assert metrics['ldai_otel_serve_spans_refused_total{reason="buffer_full"}'] == 16
    assert metrics['ldai_otel_serve_spans_refused_total{reason="too_many_spans"}'] == 16
    assert (metrics["ldai_otel_serve_spans_held"], metrics["ldai_otel_serve_spans_received_total"]) == (8, 8)
    assert len(sink.ai_events(first)) == 6
    assert "buffer_full" in serve.stderr  # the refusal's log line


def _spans_of(tracer, memory, runs: int = 1):
    for n in range(runs):
        eight_span_run(tracer, n)
    spans = memory.get_finished_spans()
    memory.clear()
    return spans
