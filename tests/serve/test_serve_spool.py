"""``ldai-otel serve --state-dir``: what serve acknowledged survives SIGKILL, and arrives once.

Serve runs as a process; a real ``TracerProvider`` exports with the real OTLP
exporters (``BatchSpanProcessor`` where an operator would use it); serve's
real ``LDClient`` posts to the loopback sink. Serve is killed with SIGKILL at
the moments that lose data without a spool (after the acknowledgement, while
events wait in the LaunchDarkly client, under traffic, with a spilled huge
trace), restarted on the same state directory (and ports), and every run must
arrive at the sink exactly once, or at most twice where serve counted a
re-send.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter

import grpc
import pytest
from conftest import CHAT
from genai import chat
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_support import SDK_KEY, export, metrics_of, start_serve
from test_serve_backpressure import eight_span_run

ROOT = {"ld.ai_config.key": CHAT, "ld.ai_config.variation_key": "v-chat", "ld.ai_config.version": 3}
INPUT = "$ld:ai:tokens:input"


def free_ports() -> tuple[int, int]:
    ports = []
    sockets = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports[0], ports[1]


class Instance:
    """Serve's flags for one state directory and fixed ports (a restart uses the same)."""

    def __init__(self, tmp_path, *flags: str):
        self.state = tmp_path / "state"
        grpc_port, http_port = free_ports()
        self.flags = ("--grpc", "127.0.0.1:%d" % grpc_port, "--http", "127.0.0.1:%d" % http_port)
        self.flags += ("--state-dir", str(self.state), *flags)
        self.grpc_endpoint = "127.0.0.1:%d" % grpc_port

    def spool_files(self) -> list:
        return sorted((self.state / "spool").glob("*.log"))


def provider_to(endpoint: str, **batch) -> tuple[TracerProvider, object]:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=60)
    provider = TracerProvider(resource=Resource.create({"service.name": "app"}))
    options = {"max_queue_size": 100_000, "max_export_batch_size": 64, "schedule_delay_millis": 20, **batch}
    provider.add_span_processor(BatchSpanProcessor(exporter, **options))
    return provider, provider.get_tracer("app")


def kill(serve) -> None:
    serve.proc.send_signal(signal.SIGKILL)
    serve.proc.wait(timeout=30)


def wait_until(condition, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def arrivals(sink, run_ids) -> Counter:
    """How many times each run's input-token event arrived (once per emission of the run)."""
    wanted = set(run_ids)
    got = Counter(e["data"]["runId"] for e in sink.ai_events() if e["key"] == INPUT)
    return Counter({run_id: got.get(run_id, 0) for run_id in wanted})


def test_sigkill_right_after_the_acknowledgement_loses_nothing_and_sends_each_run_once(sink, tmp_path):
    instance = Instance(tmp_path)
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "5") as serve:
        provider, tracer = provider_to(instance.grpc_endpoint)
        run_ids = [eight_span_run(tracer, n) for n in range(60)]
        assert provider.force_flush(timeout_millis=60_000)  # every batch acknowledged
        kill(serve)  # inside the decision wait: nothing was emitted
    assert sink.ai_events() == []
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        assert wait_until(lambda: all(arrivals(sink, run_ids).values()))
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    provider.shutdown()
    assert set(arrivals(sink, run_ids).values()) == {1}
    for run_id in run_ids:
        assert len(sink.ai_events(run_id)) == 6  # duration, three token events, a tool call, success
    assert metrics["ldai_otel_serve_spool_runs_replayed_total"] == 60
    assert metrics["ldai_otel_serve_spool_runs_resent_total"] == 0
    assert metrics["ldai_otel_serve_spool_records_replayed_total"] > 0
    assert "read back" in serve.stderr
    # Everything delivered and SIGTERM: the spool is emptied, a third start has nothing to send.
    assert instance.spool_files() == []
    before = len(sink.ai_events())
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        assert serve.terminate() == 0
    assert len(sink.ai_events()) == before


def test_sigkill_while_events_wait_in_the_launchdarkly_client_resends_and_counts_it(sink, tmp_path):
    instance = Instance(tmp_path)
    sink.delay_s = 60.0  # a slow events endpoint: the post arrives, its answer does not (before the kill)
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        provider, tracer = provider_to(instance.grpc_endpoint)
        run_ids = [eight_span_run(tracer, n) for n in range(50)]
        assert provider.force_flush(timeout_millis=60_000)
        assert wait_until(lambda: metrics_of(serve)["ldai_otel_serve_runs_emitted_total"] == 50)
        assert sink.wait_for_posts(1, 30)
        kill(serve)  # the client is waiting for the sink's answer
    sink.delay_s = 0.0
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        # The first post (all 50 runs) may have arrived: wait for the restart's own emissions.
        assert wait_until(lambda: metrics_of(serve)["ldai_otel_serve_spool_runs_replayed_total"] == 50)
        assert wait_until(lambda: all(arrivals(sink, run_ids).values()))
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    provider.shutdown()
    counts = arrivals(sink, run_ids)
    assert min(counts.values()) >= 1 and max(counts.values()) <= 2
    duplicates = sum(n - 1 for n in counts.values())
    resent = metrics["ldai_otel_serve_spool_runs_resent_total"]
    assert duplicates <= resent, (duplicates, resent)
    assert resent <= 50
    print("slow sink: %d runs, %d arrived twice, %d counted as re-sent" % (len(run_ids), duplicates, resent))


def test_sigkill_and_restart_under_continuous_traffic_loses_no_run(sink, tmp_path):
    instance = Instance(tmp_path)
    run_ids: list[str] = []
    stop = threading.Event()
    provider, tracer = provider_to(instance.grpc_endpoint)

    def produce() -> None:
        n = 0
        while not stop.is_set() and n < 1500:
            run_ids.append(eight_span_run(tracer, n))
            n += 1
            time.sleep(0.002)

    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.5") as serve:
        producer = threading.Thread(target=produce)
        producer.start()
        assert wait_until(lambda: len(run_ids) >= 500)
        kill(serve)
    restarted_at = len(run_ids)
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.5") as serve:
        producer.join(timeout=120)
        assert provider.force_flush(timeout_millis=120_000)
        assert wait_until(lambda: all(arrivals(sink, run_ids).values()), 120)
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    provider.shutdown()
    counts = arrivals(sink, run_ids)
    assert len(counts) == len(run_ids) > restarted_at
    assert min(counts.values()) == 1
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= metrics["ldai_otel_serve_spool_runs_resent_total"]
    print("traffic: %d runs, killed after %d, %d duplicate(s)" % (len(run_ids), restarted_at, duplicates))


def huge_trace(children: int = 120):
    """A run of ``children`` chat spans (1 input token each) under its root; returns (children, root, runId)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("session", attributes=ROOT) as root:
        for _ in range(children):
            chat(tracer, 1, 2)
    spans = memory.get_finished_spans()
    provider.shutdown()
    run_id = str(uuid.UUID(int=root.get_span_context().trace_id))
    return [s for s in spans if s.name != "session"], [s for s in spans if s.name == "session"], run_id


@pytest.mark.parametrize("killed", [False, True], ids=["running", "sigkill"])
def test_a_huge_trace_whose_root_comes_last_is_spilled_and_emitted_whole(sink, tmp_path, killed):
    children, root, run_id = huge_trace()
    instance = Instance(tmp_path, "--max-spans-per-trace", "50")
    wait = "5" if killed else "0.5"
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", wait) as serve:
        exporter = serve.grpc_exporter()
        for n in range(0, len(children), 30):
            export(exporter, children[n : n + 30])  # children over several requests, no root yet
        export(exporter, root)
        metrics = metrics_of(serve)
        if killed:
            kill(serve)
        else:
            assert serve.terminate() == 0
    assert metrics["ldai_otel_serve_traces_spilled_total"] == 1
    assert metrics["ldai_otel_serve_spans_held"] < 50  # the spilled spans left memory
    if killed:
        with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
            assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success", 30)
            assert serve.terminate() == 0
    events = sink.ai_events(run_id)
    tokens = [e["metricValue"] for e in events if e["key"] == INPUT]
    assert tokens == [120]  # one run, every child's tokens
    assert [e["metricValue"] for e in events if e["key"] == "$ld:ai:tokens:output"] == [240]
    assert sum(1 for e in events if e["key"] == "$ld:ai:generation:success") == 1


def one_run_request() -> tuple[bytes, str]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    run_id = eight_span_run(provider.get_tracer("app"), 0)
    provider.shutdown()
    return encode_spans(list(memory.get_finished_spans())).SerializeToString(), run_id


def post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Retry-After", "")


@pytest.mark.parametrize("damage", ["torn", "flipped"])
def test_a_damaged_tail_is_skipped_with_one_warning_and_counted(sink, tmp_path, damage):
    instance = Instance(tmp_path)
    first, first_id = one_run_request()
    second, second_id = one_run_request()
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "600") as serve:
        assert post(serve.http_url, first)[0] == 200
        assert post(serve.http_url, second)[0] == 200
        kill(serve)
    (last,) = instance.spool_files()
    data = bytearray(last.read_bytes())
    if damage == "torn":
        data = data[: len(data) - 100]  # the last record half written
    else:
        data[len(data) - 50] ^= 0xFF  # a bit flip in the last record
    last.write_bytes(bytes(data))
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        assert sink.wait_for_event(lambda e: e.get("data", {}).get("runId") == first_id, 30)
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    assert metrics["ldai_otel_serve_spool_damaged_records_total"] == 1
    assert serve.stderr.count("spool_damaged") == 1
    assert len(sink.ai_events(first_id)) == 6
    assert sink.ai_events(second_id) == []  # the damaged record is gone; its exporter was answered 200


def test_a_second_instance_on_the_same_state_directory_is_refused_with_exit_2(sink, tmp_path):
    instance = Instance(tmp_path)
    with start_serve(sink, tmp_path, *instance.flags) as serve:
        argv = [sys.executable, "-m", "ldai_otel.cli", "serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"]
        env = {**os.environ, "LAUNCHDARKLY_SDK_KEY": SDK_KEY, "LAUNCHDARKLY_EVENTS_URI": sink.uri}
        env["LDAI_OTEL_SERVE_STATE_DIR"] = str(instance.state)  # the variable, not the flag
        second = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode == 2
        assert "is in use by another ldai-otel serve (pid %d)" % serve.proc.pid in second.stderr
        assert serve.proc.poll() is None
        assert serve.terminate() == 0


def test_a_full_spool_answers_429_and_resource_exhausted_with_retry_info(sink, tmp_path):
    body, run_id = one_run_request()
    limit = len(body) + 100  # one request fits, a second does not
    instance = Instance(tmp_path, "--spool-max-bytes", str(limit), "--spool-file-bytes", str(limit))
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "600") as serve:
        assert post(serve.http_url, body)[0] == 200
        again, _ = one_run_request()
        assert post(serve.http_url, again) == (429, "5")
        with grpc.insecure_channel(serve.grpc_endpoint) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as exhausted:
                stub.Export(ExportTraceServiceRequest.FromString(again), timeout=10)
        assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--spool-max-bytes" in exhausted.value.details()
        assert dict(exhausted.value.trailing_metadata())["google.rpc.retryinfo-bin"] == b"\n\x02\x08\x05"
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    assert metrics['ldai_otel_serve_requests_refused_total{protocol="http",reason="spool_full"}'] == 1
    assert metrics['ldai_otel_serve_requests_refused_total{protocol="grpc",reason="spool_full"}'] == 1
    assert len(sink.ai_events(run_id)) == 6


def test_the_exporters_retry_gets_through_a_full_spool_once_runs_are_delivered(sink, tmp_path):
    body, _ = one_run_request()
    limit = 3 * len(body)  # about three requests held at a time
    flags = ("--spool-max-bytes", str(limit), "--spool-file-bytes", str(len(body) + 50))
    instance = Instance(tmp_path, *flags)
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        provider, tracer = provider_to(instance.grpc_endpoint, max_export_batch_size=8)
        run_ids = [eight_span_run(tracer, n) for n in range(20)]
        assert provider.force_flush(timeout_millis=120_000)
        assert wait_until(lambda: all(arrivals(sink, run_ids).values()), 60)
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    provider.shutdown()
    assert metrics['ldai_otel_serve_requests_refused_total{protocol="grpc",reason="spool_full"}'] >= 1
    assert set(arrivals(sink, run_ids).values()) == {1}
    assert metrics["ldai_otel_serve_spool_bytes"] <= limit


def test_a_long_session_whose_root_comes_last_is_spilled_under_memory_pressure_and_emitted_whole(sink, tmp_path):
    children, root, run_id = huge_trace(60)
    # --max-spans 45: the session's 60 children cannot all be held; they arrive over several
    # decision waits, so the buffer makes room by spilling the quiet, waiting trace.
    instance = Instance(tmp_path, "--max-spans", "45")
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        exporter = serve.grpc_exporter()
        for n in range(0, len(children), 20):
            export(exporter, children[n : n + 20])
            sent = n + 20
            assert wait_until(lambda sent=sent: metrics_of(serve)["ldai_otel_serve_spans_received_total"] >= sent)
            time.sleep(0.5)  # quiet for the decision wait: the next request finds it waiting
        export(exporter, root)
        assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success", 30)
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    assert metrics["ldai_otel_serve_traces_spilled_total"] == 1
    assert metrics["ldai_otel_serve_traces_evicted_total"] == 0
    assert metrics["ldai_otel_serve_spans_peak"] <= 45
    assert [e["metricValue"] for e in sink.ai_events(run_id) if e["key"] == INPUT] == [60]


def test_a_delivered_run_in_a_kept_file_is_not_sent_again_and_its_late_span_is_a_continuation(sink, tmp_path):
    from opentelemetry import trace as otel_trace

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    run_id = eight_span_run(tracer, 0)
    run_spans = memory.get_finished_spans()
    (root,) = [s for s in run_spans if s.name == "agent"]
    memory.clear()
    # A span whose parent never comes: its trace waits (for the retention) and keeps the file.
    orphan_parent = otel_trace.SpanContext(0xABC, 0xDEF, is_remote=True)
    with tracer.start_as_current_span(
        "orphan", context=otel_trace.set_span_in_context(otel_trace.NonRecordingSpan(orphan_parent))
    ):
        pass
    # A late span of the run, sent after the restart.
    with otel_trace.use_span(otel_trace.NonRecordingSpan(root.context)):
        chat(tracer, 100, 50)
    extra = memory.get_finished_spans()
    provider.shutdown()
    orphan = [s for s in extra if s.name == "orphan"]
    late = [s for s in extra if s.name != "orphan"]
    instance = Instance(tmp_path)
    body = encode_spans(list(run_spans) + orphan).SerializeToString()  # one record, both traces
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        assert post(serve.http_url, body)[0] == 200
        assert wait_until(lambda: metrics_of(serve)["ldai_otel_serve_spool_runs_delivered_total"] == 1)
        assert len(instance.spool_files()) == 1  # kept: the orphan's trace still waits
        kill(serve)
    assert len(sink.ai_events(run_id)) == 6
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        export(serve.grpc_exporter(), late)
        assert sink.wait_for_event(lambda e: e.get("key") == INPUT and e.get("metricValue") == 100, 30)
        metrics = metrics_of(serve)
        assert serve.terminate() == 0
    assert metrics["ldai_otel_serve_spool_runs_replayed_total"] == 0
    assert metrics["ldai_otel_serve_late_spans_total"] == 1
    events = sorted((e["key"], e["metricValue"]) for e in sink.ai_events(run_id))
    assert [k for k, _ in events].count(INPUT) == 2  # the run once, its continuation once
    assert ("$ld:ai:tokens:output", 50) in events
    assert [k for k, _ in events].count("$ld:ai:generation:success") == 1


def test_otlp_json_requests_are_spooled_and_read_back(sink, tmp_path):
    import io

    from otlp_json import FileSpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "app"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    run_id = eight_span_run(provider.get_tracer("app"), 0)
    provider.shutdown()
    stream = io.StringIO()
    FileSpanExporter(stream=stream).export(list(memory.get_finished_spans()))
    instance = Instance(tmp_path)
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "5") as serve:
        for line in stream.getvalue().splitlines():
            request = urllib.request.Request(
                serve.http_url, data=line.encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
        kill(serve)
    with start_serve(sink, tmp_path, *instance.flags, "--decision-wait", "0.3") as serve:
        assert sink.wait_for_event(lambda e: e.get("data", {}).get("runId") == run_id, 30)
        assert serve.terminate() == 0
    assert len(sink.ai_events(run_id)) == 6
