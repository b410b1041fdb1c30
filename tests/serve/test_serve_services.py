"""Two real services, neither with ``LDAISpanProcessor``, export to ``ldai-otel serve``: one run.

Service A is this test process: ``ai_run`` (which writes the run's identity on
its own span) and an instrumented HTTP call to B, its spans exported with a
real OTLP exporter. Service B is a subprocess: a hand-written server or a
Flask app under ``opentelemetry-instrument``, no ldai-otel code and no
LaunchDarkly key, its spans exported with the other OTLP protocol. Serve
finds B's spans in A's run through their parent chain (no baggage is read)
and sends one run: A's duration and outcome, B's tokens and tool call, each once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import CHAT
from genai import by_key
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from serve_support import start_serve
from test_cross_service import call_b, start_service

from ldai_otel import ai_run

HERE = Path(__file__).resolve().parents[1]  # tests/
FLASK_B = HERE.parent / "examples" / "two_services" / "service_b_zero_code.py"
EVENTS_DUMP = os.environ.get("LDAI_OTEL_SERVE_EVENTS_DUMP", "")
"""A file to append the events each two-service run sent (for reports); unset: none."""


def _no_launchdarkly(env: dict) -> dict:
    """B's environment: no LaunchDarkly key, so not even the zero-code hook adds a processor."""
    return {**env, "LAUNCHDARKLY_SDK_KEY": "", "LAUNCHDARKLY_EVENTS_URI": ""}


def run_a_through_b(serve, b, a_exporter, chat_config, user, sink, record_context: bool) -> tuple[str, int]:
    """A runs ai_run and calls B; B exits (flushing its spans); returns (runId, the ai_run span's ms)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "app-a"}))
    provider.add_span_processor(SimpleSpanProcessor(a_exporter))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app-a")
    try:
        with ai_run(chat_config, user, tracer_provider=provider, record_context=record_context) as run:
            assert call_b(tracer, b) == (200, "answered")
    finally:
        provider.shutdown()
    assert b.stop() == 0
    (root,) = [s for s in memory.get_finished_spans() if s.name == "ai_run " + CHAT]
    assert "ld.ai_config.emitter" not in root.attributes  # no processor emitted it
    assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success", 60)
    assert serve.terminate() == 0
    return run.run_id, (root.end_time - root.start_time) // 1_000_000


def assert_one_run(events: list[dict], run_id: str, duration_ms: int, context: dict) -> None:
    assert {e["data"]["runId"] for e in events} == {run_id}
    got = sorted((e["key"], e["metricValue"], e["data"].get("toolKey")) for e in events)
    assert got == sorted(
        [
            ("$ld:ai:duration:total", duration_ms, None),  # A's ai_run span (B's spans lie inside it)
            ("$ld:ai:generation:success", 1, None),
            ("$ld:ai:tokens:input", 200, None),  # B's two chat calls: 120 + 80
            ("$ld:ai:tokens:output", 55, None),  # 30 + 25
            ("$ld:ai:tokens:total", 255, None),
            ("$ld:ai:tool_call", 1, "search_kb"),  # B's tool
        ]
    )
    for event in events:
        assert event["context"] == context
        data = event["data"]
        assert (data["configKey"], data["variationKey"], data["version"]) == (CHAT, "v-chat", 3)
        assert (data["modelName"], data["providerName"]) == ("gpt-test", "openai")  # the AI Config's own
    assert len(by_key(events)["$ld:ai:tokens:total"]) == 1


def _dump(name: str, events: list[dict]) -> None:
    if EVENTS_DUMP:
        with open(EVENTS_DUMP, "a") as out:
            out.write(json.dumps({"test": name, "events": events}) + "\n")


@pytest.mark.parametrize("b_protocol", ["http", "grpc"])
def test_a_over_one_protocol_and_a_hand_written_b_over_the_other_make_one_run(
    b_protocol, chat_config, user, sink, tmp_path
):
    with start_serve(sink, tmp_path, "--decision-wait", "2") as serve:
        endpoint = serve.http_url if b_protocol == "http" else serve.grpc_endpoint
        env = _no_launchdarkly({"OTLP_PROTOCOL": b_protocol, "OTLP_ENDPOINT": endpoint})
        a_exporter = serve.grpc_exporter() if b_protocol == "http" else serve.http_exporter(gzip=True)
        with start_service([sys.executable, str(HERE / "services" / "serve_service_b.py")], env, tmp_path) as b:
            run_id, duration = run_a_through_b(serve, b, a_exporter, chat_config, user, sink, record_context=True)
        assert "Traceback" not in b.stderr
    events = sink.ai_events(run_id)
    _dump("hand-written B over %s" % b_protocol, events)
    assert_one_run(events, run_id, duration, {"kind": "user", "key": "user-42"})
    assert "1 segment(s) emitted" in serve.output


def test_a_over_http_and_a_zero_code_flask_b_over_grpc_make_one_run(chat_config, user, sink, tmp_path):
    assert "ldai_otel" not in FLASK_B.read_text()
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    with start_serve(sink, tmp_path, "--decision-wait", "2") as serve:
        env = _no_launchdarkly(
            {
                "OTEL_SERVICE_NAME": "flask-service",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://" + serve.grpc_endpoint,
                "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
            }
        )
        with start_service([str(instrument), sys.executable, str(FLASK_B)], env, tmp_path) as b:
            run_id, duration = run_a_through_b(
                serve, b, serve.http_exporter(), chat_config, user, sink, record_context=False
            )
        assert "Traceback" not in b.stderr
    events = sink.ai_events(run_id)
    _dump("zero-code Flask B over grpc", events)
    # No context recorded on the root: one anonymous context for A's service.
    assert_one_run(events, run_id, duration, {"kind": "service", "key": "app-a", "anonymous": True})
