"""LaunchDarkly's observability plugin (launchdarkly-observability 1.3.4) with a judged run.

The plugin, registered on the LaunchDarkly client, turns on every installed
instrumentation (its own pins include OpenLLMetry openai 0.40.14, httpx) and
installs the global tracer provider, which exports to LaunchDarkly (here: a
loopback OTLP/gRPC receiver). The processor attaches to that provider, as the README says
for an app whose provider another library made. Every model call counts once
and the run is judged once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from judges_cases import (
    JUDGE_USAGE,
    JUDGED,
    JUDGED_VARIATION,
    JUDGED_VERSION,
    QUESTION,
    RELEVANCE,
    RELEVANCE_METRIC,
    expect_judged,
    judge_stub,
    judge_totals,
)
from stack import USER_KEY


def _otlp_grpc_receiver() -> tuple[object, str]:
    """A loopback OTLP/gRPC receiver that accepts and drops traces, logs and metrics (the plugin's exporters)."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # noqa: N802 (gRPC naming)
            return trace_service_pb2.ExportTraceServiceResponse()

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request, context):  # noqa: N802
            return logs_service_pb2.ExportLogsServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):  # noqa: N802
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, "http://127.0.0.1:%d" % port


class Observed:
    def __init__(self, stub, sink, client, processor, provider, user):
        self.stub = stub
        self.sink = sink
        self.client = client
        self.processor = processor
        self.provider = provider
        self.user = user


@pytest.fixture(scope="module")
def observed() -> Iterator[Observed]:
    from ldclient import Config, Context, LDClient
    from ldclient.integrations.test_data import TestData
    from ldobserve import ObservabilityConfig, ObservabilityPlugin
    from opentelemetry import trace

    from ldai_otel import LDAISpanProcessor
    from ldai_otel.testing import LDEventSink, add_ai_config, add_judge_config

    receiver, otlp_endpoint = _otlp_grpc_receiver()
    with judge_stub.OpenAIStub() as stub, LDEventSink() as sink, LDEventSink() as backend:
        os.environ["OPENAI_BASE_URL"] = stub.base_url  # the judges' AsyncOpenAI and the app's client
        os.environ["OPENAI_API_KEY"] = "sk-test"
        td = TestData.data_source()
        add_ai_config(td, JUDGED, variation_key=JUDGED_VARIATION, version=JUDGED_VERSION, judges={RELEVANCE: 1.0})
        add_judge_config(td, RELEVANCE, RELEVANCE_METRIC)
        # Everything the plugin talks to is on the loopback: its OTLP exporters, its sampling-config backend.
        plugin = ObservabilityPlugin(
            ObservabilityConfig(otlp_endpoint=otlp_endpoint, backend_url=backend.uri, service_name="conformance")
        )
        config = Config(
            "sdk-ldai-otel-conformance",
            update_processor_class=td,
            events_uri=sink.uri,
            send_events=True,
            diagnostic_opt_out=True,
            flush_interval=3600,
            plugins=[plugin],
        )
        client = LDClient(config=config, start_wait=5)
        provider = trace.get_tracer_provider()
        processor = LDAISpanProcessor(client)
        provider.add_span_processor(processor)  # type: ignore[attr-defined]
        try:
            yield Observed(stub, sink, client, processor, provider, Context.create(USER_KEY))
        finally:
            client.close()
            provider.shutdown()  # type: ignore[attr-defined]
            # The plugin's log and metric providers too, while their receiver is up (at exit it would not be).
            from opentelemetry import _logs, metrics

            _logs.get_logger_provider().shutdown()  # type: ignore[attr-defined]
            metrics.get_meter_provider().shutdown()  # type: ignore[attr-defined]
            receiver.stop(None)  # type: ignore[attr-defined]


class TestLaunchDarklyObservability:
    def test_installed_versions_are_the_pins(self, combo):
        from importlib import metadata

        from cases import pinned_version

        for distribution in combo.packages:
            assert metadata.version(distribution) == pinned_version(combo.environment, distribution)

    def test_the_plugin_owns_the_global_provider_and_the_processor_is_on_it(self, observed):
        from opentelemetry.sdk.trace import TracerProvider

        from ldai_otel import LDAISpanProcessor

        assert isinstance(observed.provider, TracerProvider)
        processors = observed.provider._active_span_processor._span_processors  # type: ignore[attr-defined]
        assert [p for p in processors if isinstance(p, LDAISpanProcessor)] == [observed.processor]

    def test_a_judged_run_counts_its_call_once_and_is_judged_once(self, observed):
        import openai
        from ldai import LDAIClient
        from ldai.models import AICompletionConfigDefault

        from ldai_otel import ai_run
        from ldai_otel.testing import flush_events

        ai_config = LDAIClient(observed.client).completion_config(
            JUDGED, observed.user, AICompletionConfigDefault(enabled=False)
        )
        client = openai.OpenAI(max_retries=0)
        with ai_run(ai_config, observed.user) as run:
            trace_id = run.span.get_span_context().trace_id
            answer = client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": QUESTION}])
            assert answer.choices[0].message.content == observed.stub.answer
        client.close()
        flush_events(observed.client, observed.sink, observed.processor)
        events = [e for e in observed.sink.events() if isinstance(e.get("data"), dict)]
        assert run.run_id.replace("-", "") == "%032x" % trace_id

        # Exactly the run's own call (once, not also through the plugin's instrumentation) and the judge's score.
        expect_judged(events, run, score=observed.stub.score)
        # One judge call; its tokens once, on the judge config's own run.
        assert len(observed.stub.judge_requests()) == 1
        assert [total for _, total in judge_totals(events)] == [JUDGE_USAGE["total_tokens"]]
        assert observed.processor.evaluation_stats["tracked"] == 1
