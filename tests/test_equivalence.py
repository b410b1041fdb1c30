"""One assembler: the same recorded spans give the same events through every source (issue 20).

For every role, one scenario is recorded (``equivalence.py`` says how) and its events
are compared between the sources: the in-process processors and
``inspect --as processor``; ``ldai-otel serve`` (a process, fed by the real exporter)
and ``inspect --as serve``; and the processors and serve wherever one serve in place
of the processors sends the same (single-service runs). Events are compared by
key, metricValue and data (a duration's value as present or absent). The test ids
are the table of roles x sources; each test prints its row.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from conftest import CHAT
from equivalence import (
    Recording,
    comparable,
    inspect_events,
    processor_events,
    serve_events,
    served_spans,
    write_otlp_json,
)
from genai import GRAPH, add_weather_graph, chat, tool
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_graphs import NAMES, oi_handoff_run

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.baggage import TOKEN_BAGGAGE_KEY
from ldai_otel.testing import sink_client

SDK_KEY = "sdk-ldai-otel-test"


@pytest.fixture
def test_data(test_data):
    return add_weather_graph(test_data)


class World:
    """Services in this process: each a provider (its own service.name) and, optionally, a processor."""

    def __init__(self, sink, test_data, ld_client):
        self.sink = sink
        self.test_data = test_data
        self.ld_client = ld_client
        self.exporter = InMemorySpanExporter()
        self.flushes: list[tuple] = []
        self._made: list[tuple] = []

    def service(self, name: str, processor: bool = True, **options):
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        if processor:
            client = self.ld_client if not self.flushes else sink_client(self.sink, self.test_data)
            proc = LDAISpanProcessor(client, **options)
            provider.add_span_processor(proc)
            self.flushes.append((client, proc))
            self._made.append((provider, client if client is not self.ld_client else None))
        else:
            self._made.append((provider, None))
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        return provider

    def recording(self, **options) -> Recording:
        events = processor_events(self.sink, self.flushes)
        return Recording(list(self.exporter.get_finished_spans()), events, **options)

    def close(self) -> None:
        for provider, client in self._made:
            provider.shutdown()
            if client is not None:
                client.close()


@pytest.fixture
def world(sink, test_data, ld_client):
    made = World(sink, test_data, ld_client)
    yield made
    made.close()


def b_answers(provider_b, headers: dict) -> None:
    """Service B's server span under the extracted context, its GenAI work under it."""
    tracer = provider_b.get_tracer("b")
    extracted = propagate.extract(headers)
    with tracer.start_as_current_span("POST /answer", context=extracted, kind=trace.SpanKind.SERVER):
        chat(tracer, 120, 30, model="gpt-4o-mini")
        with tool(tracer, "search_kb"):
            pass
        chat(tracer, 80, 25, model="gpt-4o-mini")


# --- Scenarios: one per role ----------------------------------------------------------------


def origin(world, chat_config, user, **_) -> Recording:
    provider = world.service("app-a")
    tracer = provider.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider):
        with tracer.start_as_current_span("handler"):
            chat(tracer, 12, 8)
            with tool(tracer, "get_weather"):
                pass
        chat(tracer, 5, 5)
    return world.recording()


def resumed_signed(world, chat_config, user, **_) -> Recording:
    _a_calls_b(world, chat_config, user, b_has_processor=True)
    return world.recording()


def resumed_plain(world, chat_config, user, **_) -> Recording:
    plain = chat_config.create_tracker().resumption_token  # written by another LaunchDarkly SDK
    assert json.loads(base64.urlsafe_b64decode(plain + "=="))["configKey"] == CHAT
    provider_b = world.service("svc-b", trust_unsigned_tokens=True)
    b_answers(provider_b, {"baggage": "%s=%s" % (TOKEN_BAGGAGE_KEY, plain)})
    return world.recording()


def continuation(world, chat_config, user, **_) -> Recording:
    provider = world.service("app-a")
    tracer = provider.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider):
        chat(tracer, 12, 8)
        with tool(tracer, "get_weather"):
            pass
        inside = otel_context.get_current()  # a callback keeps the run's context
    # The run's segment closed when its span ended; a model call started later in its
    # context (a stream read by a callback) is a later segment: tokens only.
    time.sleep(0.01)  # its start is after the run's end on any clock resolution
    late = chat(tracer, 100, 50, context=inside)
    recorded = world.recording()
    recorded.late = [s for s in recorded.spans if s.context.span_id == late.get_span_context().span_id]
    return recorded


def continuation_in_one_request(world, chat_config, user, **_) -> Recording:
    """The same late call, reaching serve with the rest: serve cuts the run by the same closing rule."""
    recorded = continuation(world, chat_config, user)
    recorded.late = []
    return recorded


def nested_runs(world, chat_config, user, judge_config, **_) -> Recording:
    provider = world.service("app-a")
    tracer = provider.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider):
        chat(tracer, 12, 8)
        with ai_run(judge_config, user, tracer_provider=provider):
            chat(tracer, 3, 1, model="judge-model", error=True)
        with tool(tracer, "get_weather"):
            pass
    return world.recording()


def graph_run(world, user, ai_client, **_) -> Recording:
    provider = world.service("app-a")
    graph = ai_client.agent_graph(GRAPH, user)
    with ai_run(graph, user, tracer_provider=provider, agent_names=NAMES):
        oi_handoff_run(provider)
    return world.recording()


def _a_calls_b(world, chat_config, user, b_has_processor: bool) -> None:
    """app-a's run calls svc-b over HTTP, the run's baggage in the request's headers."""
    provider_a = world.service("app-a")
    provider_b = world.service("svc-b", processor=b_has_processor)
    tracer = provider_a.get_tracer("app")
    with ai_run(chat_config, user, tracer_provider=provider_a):
        chat(tracer, 7, 3)
        with tracer.start_as_current_span("POST /answer", kind=trace.SpanKind.CLIENT):
            headers: dict[str, str] = {}
            propagate.inject(headers)
            b_answers(provider_b, headers)


def cross_service(world, chat_config, user, **_) -> Recording:
    """A runs ai_run with a processor; B has none. Serve in place of the processor sees both."""
    _a_calls_b(world, chat_config, user, b_has_processor=False)
    return world.recording()


def cross_service_beside_processor(world, chat_config, user, **_) -> Recording:
    """The same, with serve beside A's processor: serve counts only what no processor emitted (B's)."""
    _a_calls_b(world, chat_config, user, b_has_processor=False)
    return world.recording(keep_emitter=True)


# role -> (recorder, whether serve in place of the processors sends what the processors send,
#          the event keys the processors send: the comparison is never between empty sets)
TOKENS = ["$ld:ai:tokens:input", "$ld:ai:tokens:output", "$ld:ai:tokens:total"]
FULL = sorted(["$ld:ai:duration:total", "$ld:ai:generation:success", *TOKENS, "$ld:ai:tool_call"])
SCENARIOS = {
    "origin": (origin, True, FULL),
    # A's origin (its own call's tokens, duration, outcome) and B's resumed share; serve: one segment.
    "resumed-signed": (resumed_signed, False, sorted(FULL + TOKENS)),
    "resumed-plain": (resumed_plain, True, FULL),
    "continuation": (continuation, True, sorted(FULL + TOKENS)),
    "continuation-one-request": (continuation_in_one_request, True, sorted(FULL + TOKENS)),
    "nested-runs": (
        nested_runs,
        True,
        sorted(FULL + TOKENS + ["$ld:ai:duration:total", "$ld:ai:generation:error"]),
    ),
    "graph-run": (
        graph_run,
        True,
        sorted(
            [
                "$ld:ai:graph:duration:total",
                "$ld:ai:graph:handoff_success",
                "$ld:ai:graph:invocation_success",
                "$ld:ai:graph:path",
                "$ld:ai:graph:total_tokens",
            ]
            + 2 * (["$ld:ai:duration:total", "$ld:ai:generation:success"] + TOKENS)
            + ["$ld:ai:tool_call"]
        ),
    ),
    "cross-service": (cross_service, False, sorted(["$ld:ai:duration:total", "$ld:ai:generation:success", *TOKENS])),
    "cross-service-beside-processor": (
        cross_service_beside_processor,
        False,
        sorted(["$ld:ai:duration:total", "$ld:ai:generation:success", *TOKENS]),
    ),
}


@pytest.mark.parametrize("role", list(SCENARIOS))
def test_processor_serve_and_inspect_send_the_same_events(
    role, world, sink, tmp_path, chat_config, judge_config, user, ai_client
):
    recorder, serve_same_as_processor, processor_keys = SCENARIOS[role]
    recording = recorder(world, chat_config=chat_config, judge_config=judge_config, user=user, ai_client=ai_client)
    processor = comparable(recording.processor_events)
    assert sorted(key for key, _, _ in processor) == processor_keys

    processor_file = write_otlp_json(tmp_path / "processor.jsonl", recording.spans)
    serve_file = write_otlp_json(tmp_path / "serve.jsonl", served_spans(recording, recording.spans))
    as_processor = comparable(inspect_events(sink, processor_file, "processor", SDK_KEY))
    as_serve = comparable(inspect_events(sink, serve_file, "serve", SDK_KEY))
    served = comparable(serve_events(sink, tmp_path, recording))

    row = {
        "inspect --as processor = processor": as_processor == processor,
        "inspect --as serve = serve": as_serve == served,
        "serve = processor": served == processor,
    }
    print("\n%-32s %s" % (role, "  ".join("%s: %s" % (k, "yes" if v else "NO") for k, v in row.items())))
    assert as_processor == processor
    assert served  # serve sent something: the comparison below is not between empty sets
    assert as_serve == served
    assert (served == processor) is serve_same_as_processor, (served, processor)
