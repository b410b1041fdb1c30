"""``ldai-otel serve``: real OTLP exporters send a run's spans to serve, started as a process.

Spans come from a real ``TracerProvider`` with no ``LDAISpanProcessor``; they
are exported by the real OTLP/gRPC and OTLP/HTTP exporters (or posted as OTLP
JSON, which no Python exporter sends over HTTP) to ``ldai-otel serve``, whose
real ``LDClient`` sends its events to the loopback sink. Serve is stopped with
SIGTERM, which drains it, before the exact events are asserted: nothing can
arrive later.
"""

from __future__ import annotations

import gzip
import io
import json
import signal
import sys
import urllib.error
import urllib.request
import uuid

import grpc
import pytest
from conftest import CHAT
from genai import chat, tool
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from otlp_json import FileSpanExporter
from serve_support import export, metrics_of, start_serve

from ldai_otel.testing import flush_events

ROOT_ATTRIBUTES = {"ld.ai_config.key": CHAT, "ld.ai_config.variation_key": "v-chat", "ld.ai_config.version": 3}


@pytest.fixture
def recorder():
    """A provider with no LDAISpanProcessor whose spans are kept, to be exported to serve as a test chooses."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "app-a"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield provider, memory
    provider.shutdown()


def a_run(provider, error: bool = False, root_attributes: dict | None = None) -> str:
    """A run marked by the documented attributes on its root span; returns its runId."""
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("agent", attributes={**ROOT_ATTRIBUTES, **(root_attributes or {})}) as root:
        with tracer.start_as_current_span("handler"):
            chat(tracer, 12, 8)
            with tool(tracer, "get_weather"):
                pass
        chat(tracer, 5, 5, error=error)
        if error:
            root.set_status(Status(StatusCode.ERROR))
    return str(uuid.UUID(int=root.get_span_context().trace_id))


def events_of(sink, run_id: str) -> list[tuple]:
    """The run's events at the sink: (key, metricValue, toolKey or None), sorted."""
    return sorted((e["key"], e["metricValue"], e["data"].get("toolKey")) for e in sink.ai_events(run_id))


def root_ms(memory, name: str = "agent") -> int:
    (root,) = [s for s in memory.get_finished_spans() if s.name == name]
    return (root.end_time - root.start_time) // 1_000_000


def full_run_events(duration_ms: int, success: bool = True) -> list[tuple]:
    return sorted(
        [
            ("$ld:ai:duration:total", duration_ms, None),
            ("$ld:ai:tokens:input", 17, None),
            ("$ld:ai:tokens:output", 13, None),
            ("$ld:ai:tokens:total", 30, None),
            ("$ld:ai:tool_call", 1, "get_weather"),
            ("$ld:ai:generation:success" if success else "$ld:ai:generation:error", 1, None),
        ]
    )


def test_a_run_over_grpc_arrives_once_with_the_service_context(recorder, sink, tmp_path):
    provider, memory = recorder
    with start_serve(sink, tmp_path, "--decision-wait", "0.3") as serve:
        run_id = a_run(provider)
        export(serve.grpc_exporter(), memory.get_finished_spans())
        # Emitted after the decision wait, while serve runs:
        assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success", 30)
        assert serve.terminate() == 0
    assert events_of(sink, run_id) == full_run_events(root_ms(memory))
    for event in sink.ai_events(run_id):
        assert event["context"] == {"kind": "service", "key": "app-a", "anonymous": True}
        data = event["data"]
        assert (data["configKey"], data["variationKey"], data["version"]) == (CHAT, "v-chat", 3)
        assert (data["modelName"], data["providerName"]) == ("gpt-test", "openai")
    assert "1 segment(s) emitted" in serve.output
    assert "Traceback" not in serve.stderr


def test_the_roots_context_attributes_give_the_events_context_and_a_failed_run_is_an_error(recorder, sink, tmp_path):
    provider, memory = recorder
    context = {"ld.ai_config.context.kind": "org", "ld.ai_config.context.key": "org-7"}
    with start_serve(sink, tmp_path, "--decision-wait", "0.3") as serve:
        run_id = a_run(provider, error=True, root_attributes=context)
        export(serve.http_exporter(), memory.get_finished_spans())
        assert serve.terminate() == 0
    assert events_of(sink, run_id) == full_run_events(root_ms(memory), success=False)
    assert {json.dumps(e["context"], sort_keys=True) for e in sink.ai_events(run_id)} == {
        json.dumps({"kind": "org", "key": "org-7"}, sort_keys=True)
    }


def test_out_of_order_in_separate_requests_children_first_and_a_late_span_is_a_continuation(recorder, sink, tmp_path):
    provider, memory = recorder
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("agent", attributes=ROOT_ATTRIBUTES) as root:
        with tracer.start_as_current_span("handler"):
            chat(tracer, 12, 8)
            with tool(tracer, "get_weather"):
                pass
        chat(tracer, 5, 5)
        late = chat(tracer, 100, 50, end=False)  # a stream consumed after the run
    late.end()
    run_id = str(uuid.UUID(int=root.get_span_context().trace_id))
    finished = memory.get_finished_spans()
    late_span = next(s for s in finished if s.context.span_id == late.get_span_context().span_id)
    early = [s for s in finished if s is not late_span]
    assert len(early) == 5

    with start_serve(sink, tmp_path, "--decision-wait", "0.5") as serve:
        grpc_exporter = serve.grpc_exporter()
        http_exporter = serve.http_exporter(gzip=True)
        # Children before their parents, each in its own request, gRPC and HTTP mixed.
        ordered = sorted(early, key=lambda s: -s.start_time)
        for i, span in enumerate(ordered):
            export(grpc_exporter if i % 2 else http_exporter, [span])
        assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success", 30)
        # The run was emitted; the late span arrives after the decision wait.
        export(grpc_exporter, [late_span])
        assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:tokens:input" and e.get("metricValue") == 100, 30)
        # The same request again (an exporter's retry): not counted twice.
        export(grpc_exporter, [late_span])
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    assert (metrics["ldai_otel_serve_runs_emitted_total"], metrics["ldai_otel_serve_late_spans_total"]) == (2, 1)
    assert metrics['ldai_otel_serve_spans_skipped_total{reason="duplicate"}'] == 1
    assert metrics["ldai_otel_serve_launchdarkly_events_total"] == 9  # six for the run, three for the late span
    duration = (root.end_time - root.start_time) // 1_000_000
    continuation = [
        ("$ld:ai:tokens:input", 100, None),
        ("$ld:ai:tokens:output", 50, None),
        ("$ld:ai:tokens:total", 150, None),
    ]
    assert events_of(sink, run_id) == sorted(full_run_events(duration) + continuation)


def _json_lines(spans) -> list[bytes]:
    stream = io.StringIO()
    FileSpanExporter(stream=stream).export(list(spans))
    return [line.encode() for line in stream.getvalue().splitlines() if line.strip()]


def post(serve, body: bytes, content_type: str, encoding: str = "") -> tuple[int, bytes, str]:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(serve.http_url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def test_json_and_protobuf_gzip_and_not_each_deliver_the_run(recorder, sink, tmp_path):
    provider, memory = recorder
    runs = []
    with start_serve(sink, tmp_path, "--decision-wait", "0.3") as serve:
        senders = {
            "json": lambda spans: [post(serve, line, "application/json") for line in _json_lines(spans)],
            "json+gzip": lambda spans: [
                post(serve, gzip.compress(line), "application/json", "gzip") for line in _json_lines(spans)
            ],
            "protobuf": lambda spans: [
                post(serve, encode_spans(list(spans)).SerializeToString(), "application/x-protobuf")
            ],
            "protobuf+gzip": lambda spans: [
                post(
                    serve,
                    gzip.compress(encode_spans(list(spans)).SerializeToString()),
                    "application/x-protobuf",
                    "gzip",
                )
            ],
        }
        for name, send in senders.items():
            memory.clear()
            run_id = a_run(provider)
            answers = send(memory.get_finished_spans())
            for status, body, content_type in answers:
                assert status == 200, (name, body)
                assert content_type == ("application/json" if name.startswith("json") else "application/x-protobuf")
                if name.startswith("json"):
                    assert json.loads(body) == {}  # no partial success
                else:
                    assert ExportTraceServiceResponse.FromString(body) == ExportTraceServiceResponse()
            runs.append((name, run_id, root_ms(memory)))
        assert serve.terminate() == 0
    for name, run_id, duration in runs:
        assert events_of(sink, run_id) == full_run_events(duration), name


def test_bad_requests_get_the_documented_answers_and_serve_keeps_serving(recorder, sink, tmp_path):
    provider, memory = recorder
    run_id = a_run(provider)
    good = encode_spans(list(memory.get_finished_spans())).SerializeToString()
    with start_serve(sink, tmp_path, "--decision-wait", "0.3", "--max-request-bytes", "100000") as serve:
        assert post(serve, b"\xff\xff\xff garbage", "application/x-protobuf")[0] == 400
        assert post(serve, good[: len(good) // 2], "application/x-protobuf")[0] == 400  # truncated
        assert post(serve, b'{"resourceSpans": [', "application/json")[0] == 400
        assert post(serve, b"[1, 2]", "application/json")[0] == 400
        assert post(serve, b'{"resourceSpans": 5}', "application/json")[0] == 400
        status, body, content_type = post(serve, gzip.compress(good)[:40], "application/x-protobuf", "gzip")
        assert status == 400 and b"truncated gzip" in body and content_type == "application/x-protobuf"
        assert post(serve, b"not gzip at all", "application/x-protobuf", "gzip")[0] == 400
        assert post(serve, good, "text/plain")[0] == 415
        assert post(serve, good, "application/x-protobuf", "br")[0] == 415
        assert post(serve, b"\x0a" * 200_000, "application/x-protobuf")[0] == 413
        bomb = gzip.compress(b"\x00" * 5_000_000)  # small on the wire, 5 MB inflated
        assert len(bomb) < 100_000
        assert post(serve, bomb, "application/x-protobuf", "gzip")[0] == 413
        status, body, _ = post(serve, b"{", "application/json")
        assert status == 400 and json.loads(body)["code"] == 3  # a google.rpc.Status, INVALID_ARGUMENT

        # One span without a trace id: partial success, the rest taken.
        request = ExportTraceServiceRequest.FromString(good)
        broken = request.resource_spans[0].scope_spans[0].spans.add()
        broken.name = "no ids"
        status, body, _ = post(serve, request.SerializeToString(), "application/x-protobuf")
        assert status == 200
        answer = ExportTraceServiceResponse.FromString(body)
        assert answer.partial_success.rejected_spans == 1
        assert "rejected" in answer.partial_success.error_message

        # gRPC: an undecodable request is INVALID_ARGUMENT, an oversized one RESOURCE_EXHAUSTED.
        with grpc.insecure_channel(serve.grpc_endpoint) as channel:
            raw = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=lambda b: b,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as bad:
                raw(b"\xff\xff\xff garbage", timeout=10)
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.RpcError) as big:
                raw(b"\x0a" * 200_000, timeout=10)
            assert big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert serve.proc.poll() is None
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % serve.http_port, timeout=10) as health:
            assert health.status == 200
        assert serve.terminate() == 0
    # The run went in once, with the partial-success request.
    assert events_of(sink, run_id) == full_run_events(root_ms(memory))


def test_a_run_the_in_process_processor_emitted_is_not_counted_again(
    make_provider, chat_config, user, ld_client, sink, tmp_path
):
    from ldai_otel import ai_run

    provider, processor = make_provider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    with start_serve(sink, tmp_path, "--decision-wait", "0.3") as serve:
        with ai_run(chat_config, user, tracer_provider=provider) as run:
            with tracer.start_as_current_span("handler"):
                chat(tracer, 12, 8)
                with tool(tracer, "get_weather"):
                    pass
            chat(tracer, 5, 5)
        in_process = flush_events(ld_client, sink, processor)
        assert len(in_process) == 6
        export(serve.grpc_exporter(), memory.get_finished_spans())
        assert serve.terminate() == 0
    assert "0 segment(s) emitted" in serve.output
    assert events_of(sink, run.run_id) == sorted(
        (e["key"], e["metricValue"], e["data"].get("toolKey")) for e in in_process
    )


def test_spans_launchdarkly_sdks_track_are_not_counted(recorder, sink, tmp_path):
    provider, memory = recorder
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("agent", attributes=ROOT_ATTRIBUTES) as root:
        # A LaunchDarkly AI SDK's own run, inside ours: it sends its own events.
        with tracer.start_as_current_span("ld provider", attributes={"launchdarkly.run.id": "ld-run-1"}):
            chat(tracer, 1000, 1000)
        chat(tracer, 12, 8)
    run_id = str(uuid.UUID(int=root.get_span_context().trace_id))
    with start_serve(sink, tmp_path, "--decision-wait", "0.3") as serve:
        export(serve.http_exporter(), memory.get_finished_spans())
        assert serve.terminate() == 0
    got = {key: value for key, value, _ in events_of(sink, run_id)}
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"]) == (12, 8)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_sigterm_emits_every_buffered_run_before_exit(recorder, sink, tmp_path, signal_name):
    provider, memory = recorder
    with start_serve(sink, tmp_path, "--decision-wait", "600") as serve:
        run_ids = [a_run(provider) for _ in range(5)]
        export(serve.grpc_exporter(), memory.get_finished_spans())
        assert sink.ai_events() == []  # the decision wait is far off
        assert serve.terminate(getattr(signal, signal_name)) == 0
    assert "5 segment(s) emitted" in serve.output
    for run_id in run_ids:
        got = events_of(sink, run_id)
        assert [k for k, _, _ in got] == [k for k, _, _ in full_run_events(0)]


def test_the_spans_per_trace_bound_emits_a_trace_early_with_what_it_has(recorder, sink, tmp_path):
    provider, memory = recorder
    with start_serve(sink, tmp_path, "--decision-wait", "600", "--max-spans-per-trace", "5") as serve:
        run_ids = [a_run(provider) for _ in range(2)]
        spans = memory.get_finished_spans()
        exporter = serve.grpc_exporter()
        export(exporter, [s for s in spans if str(uuid.UUID(int=s.context.trace_id)) == run_ids[0]])
        # Its fifth span reached the bound: emitted now, long before the decision wait.
        assert sink.wait_for_event(lambda e: e.get("data", {}).get("runId") == run_ids[0], 30)
        export(exporter, [s for s in spans if str(uuid.UUID(int=s.context.trace_id)) == run_ids[1]])
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    assert (metrics["ldai_otel_serve_traces_evicted_total"], metrics["ldai_otel_serve_traces_held"]) == (2, 0)
    for run_id in run_ids:
        assert len(events_of(sink, run_id)) == 6


def test_serve_without_an_sdk_key_refuses_to_start(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "LAUNCHDARKLY_SDK_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "ldai_otel.cli", "serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2 and "LAUNCHDARKLY_SDK_KEY" in result.stderr


def test_a_downstream_service_without_a_processor_is_counted_by_serve_and_nothing_twice(
    make_provider, chat_config, user, ld_client, sink, tmp_path
):
    from opentelemetry import propagate

    from ldai_otel import ai_run

    provider_a, processor = make_provider()  # A: LDAISpanProcessor
    memory = InMemorySpanExporter()
    provider_a.add_span_processor(SimpleSpanProcessor(memory))
    provider_b = TracerProvider(resource=Resource.create({"service.name": "model-service"}))  # B: none
    provider_b.add_span_processor(SimpleSpanProcessor(memory))
    tracer_a, tracer_b = provider_a.get_tracer("app"), provider_b.get_tracer("model-service")
    with start_serve(sink, tmp_path, "--decision-wait", "0.3") as serve:
        with ai_run(chat_config, user, tracer_provider=provider_a) as run:
            with tracer_a.start_as_current_span("POST /answer"):
                headers: dict[str, str] = {}
                propagate.inject(headers)
            with tracer_b.start_as_current_span("POST /answer", context=propagate.extract(headers)):
                chat(tracer_b, 120, 30)
                with tool(tracer_b, "search_kb"):
                    pass
                chat(tracer_b, 80, 25)
        in_process = flush_events(ld_client, sink, processor)
        assert sorted(e["key"] for e in in_process) == ["$ld:ai:duration:total", "$ld:ai:generation:success"]
        export(serve.http_exporter(), memory.get_finished_spans())
        assert serve.terminate() == 0
    provider_b.shutdown()
    events = sink.ai_events(run.run_id)
    # A's processor: duration and outcome. Serve: B's share, as B's processor would have sent it.
    assert sorted((e["key"], e["metricValue"], e["data"].get("toolKey")) for e in events) == sorted(
        [(e["key"], e["metricValue"], None) for e in in_process]
        + [
            ("$ld:ai:tokens:input", 200, None),
            ("$ld:ai:tokens:output", 55, None),
            ("$ld:ai:tokens:total", 255, None),
            ("$ld:ai:tool_call", 1, "search_kb"),
        ]
    )
    for event in events:
        if event["key"].startswith(("$ld:ai:tokens", "$ld:ai:tool")):
            assert event["context"] == {"kind": "service", "key": "model-service", "anonymous": True}


def test_health_on_both_listeners_and_metrics_in_prometheus_format(sink, tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with start_serve(sink, tmp_path) as serve:
        with grpc.insecure_channel(serve.grpc_endpoint) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "opentelemetry.proto.collector.trace.v1.TraceService"):
                answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as unknown:
                health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % serve.http_port, timeout=10) as response:
            assert (response.status, response.read()) == (200, b"ok\n")
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    assert metrics["ldai_otel_serve_spans_held"] == 0 and metrics["ldai_otel_serve_buffer_fill_ratio"] == 0
    for name in ("spans_received", "runs_emitted", "late_spans", "traces_evicted", "launchdarkly_events"):
        assert metrics["ldai_otel_serve_%s_total" % name] == 0
    assert metrics['ldai_otel_serve_spans_skipped_total{reason="duplicate"}'] == 0


def test_ldclients_dropped_events_warnings_are_counted():
    import logging

    from ldai_otel.serve.metrics import ServeMetrics
    from ldai_otel.serve.traces import TraceBuffer

    metrics = ServeMetrics(TraceBuffer(lambda segments: None, decision_wait_s=1.0), 100, lambda: 3)
    handler = metrics.watch_ldclient()
    try:
        log = logging.getLogger("ldclient.impl.events.event_processor")
        # ldclient's own words when its event queue overflows, and when it gives a delivery up.
        log.warning("Events are being produced faster than they can be processed; some events will be dropped")
        log.warning("Received error 503 for event posting - some events were dropped")
        logging.getLogger("ldclient.impl.events.event_processor_common").warning(
            "Exceeded event queue capacity. Increase capacity to avoid dropping events."
        )
        log.warning("Error posting diagnostic event (some events were dropped): refused")  # the SDK's own telemetry
        log.warning("unrelated")
    finally:
        logging.getLogger("ldclient").removeHandler(handler)
    text = metrics.exposition().decode()
    assert "ldai_otel_serve_launchdarkly_drop_reports_total 3.0\n" in text
    assert "ldai_otel_serve_launchdarkly_segments_queued 3.0\n" in text


SIGNAL_ON_ANOTHER_THREAD = """
import os, signal, sys, threading, time
from ldai_otel.cli import main

def signal_from_here(trigger):
    while not os.path.exists(trigger):
        time.sleep(0.05)
    # Directed at this thread, as the kernel may direct a process's SIGTERM at any thread.
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=signal_from_here, args=(sys.argv[1],), daemon=True).start()
sys.exit(main(sys.argv[2:]))
"""


def test_sigterm_taken_by_another_thread_still_stops_serve(recorder, sink, tmp_path):
    """Python runs signal handlers on the main thread only: serve's wait for the signal must wake."""
    provider, memory = recorder
    run_id = a_run(provider)
    trigger = tmp_path / "signal-now"
    launcher = [sys.executable, "-c", SIGNAL_ON_ANOTHER_THREAD, str(trigger)]
    with start_serve(sink, tmp_path, "--decision-wait", "600", launcher=launcher) as serve:
        export(serve.grpc_exporter(), memory.get_finished_spans())
        trigger.touch()
        assert serve.wait_for_exit(timeout=60) == 0
    assert "1 segment(s) emitted" in serve.output
    assert [k for k, _, _ in events_of(sink, run_id)] == [k for k, _, _ in full_run_events(0)]
