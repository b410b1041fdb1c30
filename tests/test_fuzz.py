"""Fuzzing with hypothesis: span attributes and baggage of every type and size.

Properties, for every generated input: no exception reaches the app (the OTel
SDK does not catch hook errors), no hook even had to catch one (no ERROR log
from ldai_otel), what is emitted is well-formed, forged baggage never resumes
a run nor makes the sampler record a span, and nothing grows: after each
example the run table is empty again and the warning limiter stays bounded.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CHAT
from google.protobuf.json_format import MessageToJson
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient import Context
from ldclient.integrations.test_data import TestData
from opentelemetry import baggage as otel_baggage
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context as OtelContext
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel._ratelimit import largest_table
from ldai_otel.baggage import CONTEXT_BAGGAGE_KEY, TOKEN_BAGGAGE_KEY
from ldai_otel.inspect.reading import read_file
from ldai_otel.inspect.runs import RecordingClient, build_runs, emit
from ldai_otel.model import attributes as A
from ldai_otel.sampler import RunRecordingSampler
from ldai_otel.testing import LDEventSink, add_ai_config, flush_events, sink_client

FUZZ = settings(
    # Modest by default so the suite stays fast; LDAI_OTEL_FUZZ_EXAMPLES=5000 for a deep run.
    max_examples=int(os.environ.get("LDAI_OTEL_FUZZ_EXAMPLES", "120")),
    deadline=None,
    database=None,  # no .hypothesis directory in the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Every dotted attribute key the dialects read, as they evolve, plus junk keys.
KNOWN_KEYS = sorted({v for v in vars(A).values() if isinstance(v, str) and "." in v})
CLASS_VALUES = sorted(
    set(A.MODEL_CALL_OPERATIONS)
    | set(A.TOOL_OPERATIONS)
    | set(A.AGENT_OPERATIONS)
    | {"LLM", "EMBEDDING", "TOOL", "AGENT", "CHAIN", "tool", "workflow", "task", "agent", "chat", "log"}
)
CLASS_KEYS = [A.GEN_AI_OPERATION_NAME, "openinference.span.kind", A.TRACELOOP_SPAN_KIND, A.LLM_REQUEST_TYPE]

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**63, 1e308, -0.0, 0.5]),
)
otel_values = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=200),
    st.text(max_size=20).map(lambda s: s * 500),  # large strings
    st.integers(33, 100_000).map(lambda d: "[" * d + '{"type": "tool_call"}' + "]" * d),  # deep JSON
    st.sampled_from(CLASS_VALUES),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=8),
    st.lists(st.floats(allow_nan=True), max_size=8),
    st.lists(st.text(max_size=30), max_size=8),
    st.lists(st.booleans(), max_size=4),
    st.binary(max_size=32),  # not an OTel type: the SDK drops it
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=4),  # mixed: invalid
)
junk_values = st.one_of(
    otel_values,
    st.builds(object),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sets(st.integers(), max_size=3),
    st.complex_numbers(allow_nan=True),
    st.decimals(allow_nan=True),
    st.tuples(st.integers(), st.text(max_size=3)),
)
attribute_keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=40))
attribute_maps = st.dictionaries(attribute_keys, otel_values, max_size=12)
span_specs = st.lists(
    st.fixed_dictionaries(
        {
            "classify": st.one_of(st.none(), st.tuples(st.sampled_from(CLASS_KEYS), st.sampled_from(CLASS_VALUES))),
            "start": attribute_maps,
            "later": attribute_maps,
            "events": st.lists(
                st.tuples(
                    st.sampled_from([A.GEN_AI_CONTENT_COMPLETION_CHUNK_EVENT, "First Token Stream Event", "x"]),
                    attribute_maps,
                ),
                max_size=3,
            ),
            "error": st.booleans(),
            "nested": st.booleans(),
        }
    ),
    max_size=6,
)


class ErrorRecords(logging.Handler):
    """Collects ERROR records from ldai_otel: a hook that had to catch something."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.messages.append(record.getMessage())

    def take(self) -> list[str]:
        with self._guard:
            taken, self.messages = self.messages, []
        return taken


class Emitted:
    def __init__(self) -> None:
        self.summaries: list[tuple[str, Any]] = []
        self._guard = threading.Lock()

    def __call__(self, run_id, config_key, role, summary) -> None:
        with self._guard:
            self.summaries.append((role, summary))

    def take(self) -> list[tuple[str, Any]]:
        with self._guard:
            taken, self.summaries = self.summaries, []
        return taken


class IndependentIds(RandomIdGenerator):
    """Ids from the OS: hypothesis reseeds the global ``random`` for every
    example, which would give every example the same trace ids."""

    def generate_span_id(self) -> int:
        return secrets.randbits(64) or 1

    def generate_trace_id(self) -> int:
        return secrets.randbits(128) or 1


class FuzzHarness:
    """One sink, client, provider and processor shared by all examples of a module."""

    def __init__(self) -> None:
        self.sink = LDEventSink()
        td = TestData.data_source()
        add_ai_config(td, CHAT, variation_key="v-chat", version=3)
        self.ld_client = sink_client(self.sink, td)
        self.emitted = Emitted()
        self.processor = LDAISpanProcessor(self.ld_client, on_emitted=self.emitted)
        self.provider = TracerProvider(
            sampler=RunRecordingSampler(ParentBased(ALWAYS_OFF)),
            id_generator=IndependentIds(),
        )
        self.provider.add_span_processor(self.processor)
        self.tracer = self.provider.get_tracer("fuzz")
        self.user = Context.create("user-fuzz")
        self.config = LDAIClient(self.ld_client).completion_config(
            CHAT, self.user, AICompletionConfigDefault(enabled=False)
        )
        self.errors = ErrorRecords()
        logging.getLogger("ldai_otel").addHandler(self.errors)
        self.runs = 0
        self.propagator = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])

    def settle(self) -> list[tuple[str, Any]]:
        """Flushes; asserts nothing grew and no hook caught an error; returns what was emitted."""
        assert self.processor.force_flush() is True
        assert self.processor.open_runs == 0
        assert self.processor.tracked_spans == 0
        assert largest_table() <= 256
        assert self.errors.take() == []
        return self.emitted.take()

    def close(self) -> None:
        logging.getLogger("ldai_otel").removeHandler(self.errors)
        self.provider.shutdown()
        self.ld_client.close()
        self.sink.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[FuzzHarness]:
    made = FuzzHarness()
    yield made
    made.close()


@pytest.fixture(autouse=True)
def _quiet_sdk_warnings(caplog):
    # The SDK warns about every invalid attribute type we feed it; keep the
    # report readable (the assertions do not read these).
    with caplog.at_level(logging.CRITICAL, logger="opentelemetry"):
        yield


def assert_well_formed(summary: Any) -> None:
    for name in ("input_tokens", "output_tokens", "total_tokens"):
        value = getattr(summary, name)
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, (name, value)
    for name in ("duration_ms", "time_to_first_token_ms"):
        value = getattr(summary, name)
        assert value is None or (isinstance(value, int) and value >= 0), (name, value)
    assert summary.success in (None, True, False)
    assert all(isinstance(tool, str) and tool for tool in summary.tool_calls)


def start_spec_span(tracer, spec: dict, parent=None):
    attributes = dict(spec["start"])
    if spec["classify"] is not None:
        attributes[spec["classify"][0]] = spec["classify"][1]
    context = trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span("fuzz", attributes=attributes, context=context)
    span.set_attributes(spec["later"])
    for name, event_attributes in spec["events"]:
        span.add_event(name, event_attributes)
    if spec["error"]:
        span.set_status(Status(StatusCode.ERROR, "fuzzed"))
    return span


@FUZZ
@given(specs=span_specs, scope_fails=st.booleans())
def test_span_attributes_of_every_type_and_size_never_escape_a_hook(harness, specs, scope_fails):
    h = harness
    try:
        with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True):
            nested = []  # a chain of nested spans, ended innermost first
            for spec in specs:
                span = start_spec_span(h.tracer, spec, nested[-1] if nested else None)
                if spec["nested"]:
                    nested.append(span)
                else:
                    span.end()
            for span in reversed(nested):
                span.end()
            if scope_fails:
                raise KeyError("app failure")
    except KeyError:
        assert scope_fails
    emitted = h.settle()
    assert [role for role, _ in emitted] == ["origin"]
    for _, summary in emitted:
        assert_well_formed(summary)
        if scope_fails:
            assert summary.success is False
        else:
            assert summary.success is not None


@FUZZ
@given(
    attributes=st.dictionaries(attribute_keys, junk_values, max_size=12),
    classify=st.tuples(st.sampled_from(CLASS_KEYS), st.one_of(st.sampled_from(CLASS_VALUES), junk_values)),
)
def test_ended_spans_carrying_values_the_sdk_would_never_allow_are_contained(harness, attributes, classify):
    # A ReadableSpan handed to on_end directly: no SDK validation in between,
    # so extractors see arbitrary Python objects (a buggy instrumentation or
    # exporter-side wrapper can produce these).
    h = harness
    attributes = dict(attributes)
    attributes[classify[0]] = classify[1]
    with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True):
        real = h.tracer.start_span("chat")
        forged = ReadableSpan(
            name="chat",
            context=real.get_span_context(),
            parent=real.parent,
            attributes=attributes,
            start_time=1,
            end_time=2,
        )
        h.processor.on_end(forged)
        real.end()  # already ended as far as the processor knows: ignored
    for _, summary in h.settle():
        assert_well_formed(summary)


# --- Valid facts arrive exactly --------------------------------------------------
#
# Each fuzzed run has model calls in one of four dialects, each fact under that
# dialect's one spelling with a value of any type and size (or absent), plus
# noise under every other key the dialects read. The oracle below is the
# documented rule (docs/rules.md, "Bad values"), written independently of the code:
# the events at the sink must be exactly what it predicts, and ``inspect``,
# reading the same spans back from OTLP JSON, must predict exactly those events.

MAX_COUNT = 2**63 - 1
DAY_MS = 86_400_000.0
# (input, output, total, time to first token, ms per unit of the ttft attribute)
FACT_SPELLINGS = {
    "semconv": ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.total_tokens",
                "gen_ai.response.time_to_first_chunk", 1000.0),
    "deprecated": ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "llm.usage.total_tokens",
                   "gen_ai.client.operation.time_to_first_chunk", 1000.0),
    "openinference": ("llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total",
                      None, 1.0),
    "vercel": ("ai.usage.inputTokens", "ai.usage.outputTokens", "ai.usage.totalTokens",
               "ai.response.msToFirstChunk", 1.0),
}  # fmt: skip
DIALECT_MARKS = {
    "semconv": {"gen_ai.operation.name": "chat"},
    "deprecated": {"gen_ai.operation.name": "text_completion"},
    "openinference": {"openinference.span.kind": "LLM"},
    "vercel": {"ai.operationId": "ai.generateText.doGenerate"},
}
# Keys whose values change a fact the oracle models: never used as noise.
FACT_KEY = re.compile(
    r"token|usage|Tokens|Chunk|chunk|first|operation|span\.kind|span_type|request\.type|operationId|error|"
    r"duration|response\.id|output|completion\.|tool|llm\.is_streaming|^ld\.ai_config"
)
NOISE_KEYS = sorted(k for k in KNOWN_KEYS if not FACT_KEY.search(k))


def deep_json(depth: int) -> str:
    return "[" * depth + '{"role":"assistant","parts":[{"type":"tool_call","name":"deep"}]}' + "]" * depth


hostile_strings = st.one_of(
    st.integers(33, 200_000).map(deep_json),
    st.just(json.dumps([{"parts": [{"type": "tool_call", "name": "x" * (1 << 20)}]}])),  # over the size bound
    st.text(max_size=50).map(lambda t: '[{"parts": [{"type": "tool_call", "name": ' + t),  # broken JSON
    st.text(min_size=1, max_size=10).map(lambda t: t * 20_000),  # long strings
)
# Values of every type and size, valid or not, for one fact.
fact_values = st.one_of(
    st.none(),
    st.integers(0, 10_000),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, MAX_COUNT, 2**63, 2**64, 10**30, -1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([12.0, 12.5, 1e19, 9.2e18, 1.797e308, 5e-324, 86_400.0, 86_400.001, 86_400_000.0, -0.0]),
    st.booleans(),
    st.text(max_size=30),
    hostile_strings,
    st.lists(st.integers(0, 100), max_size=5),
    st.lists(st.floats(allow_nan=True), max_size=5),
)
noise_values = st.one_of(otel_values, hostile_strings)
call_specs = st.lists(
    st.fixed_dictionaries(
        {
            "dialect": st.sampled_from(sorted(FACT_SPELLINGS)),
            "facts": st.tuples(fact_values, fact_values, fact_values, fact_values),
            "tools": st.one_of(
                st.none(),
                st.lists(st.sampled_from(["get_weather", "search", "t" * 300]), min_size=1, max_size=3),
                hostile_strings,
            ),
            "noise": st.dictionaries(st.sampled_from(NOISE_KEYS), noise_values, max_size=6),
            "error": st.booleans(),
        }
    ),
    max_size=5,
)


def oracle_count(value: Any) -> int | None:
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    if type(value) is float and math.isfinite(value) and value.is_integer() and 0 <= value <= MAX_COUNT:
        return int(value)
    return None


def oracle_ms(value: Any, scale: float) -> float | None:
    if type(value) not in (int, float):
        return None
    try:
        ms = float(value) * scale
    except OverflowError:
        return None
    return ms if math.isfinite(ms) and 0 <= ms <= DAY_MS else None


def expected_events(calls: list[dict], scope_fails: bool) -> dict[str, Any]:
    """event key -> metricValue (tool calls: the list of toolKeys), duration's value left out."""
    expected: dict[str, Any] = {"$ld:ai:duration:total": "any"}
    usage = []
    ttft = None
    tools: list[str] = []
    for call in calls:
        inp, out, total, first = call["facts"]
        counts = (oracle_count(inp), oracle_count(out), oracle_count(total))
        if any(c is not None for c in counts):
            usage.append(counts)
        scale = FACT_SPELLINGS[call["dialect"]][4]
        if ttft is None and FACT_SPELLINGS[call["dialect"]][3] is not None:
            ttft = oracle_ms(first, scale)
        if isinstance(call["tools"], list):
            tools.extend(call["tools"])
    if usage:
        sums = (
            sum(i or 0 for i, _, _ in usage),
            sum(o or 0 for _, o, _ in usage),
            sum(t if t is not None else (i or 0) + (o or 0) for i, o, t in usage),
        )
        if max(sums) <= MAX_COUNT:
            for key, value in zip(("input", "output", "total"), sums, strict=True):
                if value > 0:
                    expected["$ld:ai:tokens:" + key] = value
    if ttft is not None:
        expected["$ld:ai:tokens:ttf"] = int(round(ttft))
    if tools:
        expected["$ld:ai:tool_call"] = tools
    failed = scope_fails or (bool(calls) and calls[-1]["error"])
    expected["$ld:ai:generation:error" if failed else "$ld:ai:generation:success"] = 1
    return expected


def got_events(events: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    """Same shape as expected_events, from (key, metricValue, toolKey); asserts each key once."""
    got: dict[str, Any] = {}
    for key, value, tool_key in events:
        if key == "$ld:ai:tool_call":
            got.setdefault(key, []).append(tool_key)
            continue
        assert key not in got, "%s sent twice" % key
        got[key] = "any" if key == "$ld:ai:duration:total" else value
    return got


def call_attributes(call: dict) -> dict[str, Any]:
    attributes = dict(call["noise"])
    attributes.update(DIALECT_MARKS[call["dialect"]])
    keys = FACT_SPELLINGS[call["dialect"]]
    for key, value in zip(keys[:4], call["facts"], strict=True):
        if key is not None and value is not None:
            attributes[key] = value
    tools = call["tools"]
    if isinstance(tools, list):
        parts = [{"type": "tool_call", "name": name} for name in tools]
        attributes["gen_ai.output.messages"] = json.dumps([{"role": "assistant", "parts": parts}])
    elif isinstance(tools, str):
        attributes["gen_ai.output.messages"] = tools
    return attributes


class ExactHarness:
    """A head-sampled-in provider whose spans also go to an exporter (for inspect)."""

    def __init__(self) -> None:
        self.sink = LDEventSink()
        td = TestData.data_source()
        add_ai_config(td, CHAT, variation_key="v-chat", version=3)
        self.ld_client = sink_client(self.sink, td)
        self.processor = LDAISpanProcessor(self.ld_client)
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(id_generator=IndependentIds())
        self.provider.add_span_processor(self.processor)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("fuzz-exact")
        self.user = Context.create("user-fuzz")
        self.config = LDAIClient(self.ld_client).completion_config(
            CHAT, self.user, AICompletionConfigDefault(enabled=False)
        )
        self.errors = ErrorRecords()
        logging.getLogger("ldai_otel").addHandler(self.errors)
        self.examples = 0

    def close(self) -> None:
        logging.getLogger("ldai_otel").removeHandler(self.errors)
        self.provider.shutdown()
        self.ld_client.close()
        self.sink.close()


@pytest.fixture(scope="module")
def exact() -> Iterator[ExactHarness]:
    made = ExactHarness()
    yield made
    made.close()


def inspect_events(spans: Any, tmp_dir: str) -> dict[tuple[str, str], list[tuple[str, Any, Any]]]:
    """What ``ldai-otel inspect`` predicts from ``spans`` written as an OTLP JSON line."""
    path = os.path.join(tmp_dir, "fuzz-%d.jsonl" % secrets.randbits(32))
    with open(path, "w") as out:
        out.write(MessageToJson(encode_spans(spans), indent=None) + "\n")
    reading = read_file(path)
    predicted: dict[tuple[str, str], list[tuple[str, Any, Any]]] = {}
    client = RecordingClient()
    for trace_record in reading.traces.values():
        reports, _ = build_runs(trace_record, None)
        for report in reports:
            emit(report, client)
            run_id, config_key = report.segment.binding.key
            predicted.setdefault((run_id, config_key), []).extend(
                (key, value, data.get("toolKey")) for key, value, data in report.events
            )
    os.unlink(path)
    return predicted


@FUZZ
@given(calls=call_specs, scope_fails=st.booleans())
def test_valid_facts_of_a_fuzzed_run_arrive_exactly_and_inspect_predicts_them(
    exact, tmp_path_factory, calls, scope_fails
):
    h = exact
    h.exporter.clear()
    try:
        with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True) as run:
            run_id = run.run_id
            for call in calls:
                span = h.tracer.start_span("chat", attributes=call_attributes(call))
                if call["error"]:
                    span.set_status(Status(StatusCode.ERROR, "fuzzed"))
                span.end()
            if scope_fails:
                raise KeyError("app failure")
    except KeyError:
        assert scope_fails
    events = flush_events(h.ld_client, h.sink, h.processor)
    sent = [(e["key"], e["metricValue"], e["data"].get("toolKey")) for e in events if e["data"]["runId"] == run_id]
    expected = expected_events(calls, scope_fails)
    assert got_events(sent) == expected
    for key in sorted(expected):
        event(key)  # hypothesis statistics: which facts the examples exercised
    assert h.errors.take() == []
    assert h.processor.open_runs == 0
    # The same spans, through OTLP JSON and inspect's code path.
    predicted = inspect_events(h.exporter.get_finished_spans(), str(tmp_path_factory.getbasetemp()))
    assert list(predicted) == [(run_id, CHAT)]
    assert sorted(predicted[(run_id, CHAT)], key=repr) == sorted(sent, key=repr)
    h.examples += 1


# A tool span's name in every shape a broken instrumentation could write: the tool
# ran, so it is one tool_call event whatever its name (cut to the bound, or "unknown").
tool_names = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(min_size=1000, max_size=1100),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
)
tool_span_names = st.one_of(st.just(""), st.text(max_size=30), st.text(min_size=1020, max_size=1030))


@FUZZ
@given(tools=st.lists(st.tuples(tool_names, tool_span_names), min_size=1, max_size=6))
def test_every_executed_tool_span_is_one_tool_call_whatever_its_name(exact, tools):
    h = exact
    with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True) as run:
        run_id = run.run_id
        for name, span_name in tools:
            attributes: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: "execute_tool"}
            if name is not None:
                attributes[A.GEN_AI_TOOL_NAME] = name
            h.tracer.start_span(span_name, attributes=attributes).end()
    events = flush_events(h.ld_client, h.sink, h.processor)
    keys = [e["data"].get("toolKey") for e in events if e["data"]["runId"] == run_id and e["key"] == "$ld:ai:tool_call"]
    assert len(keys) == len(tools)
    for key, (name, span_name) in zip(keys, tools, strict=True):
        if isinstance(name, str) and name:
            assert key == name[:1024]
        elif span_name:
            assert key == span_name[:1024]
        else:
            assert key == "unknown"
    assert h.processor.open_runs == 0


# --- One model call counts once, however many instrumentations saw it ----------------
#
# Calls made one after another or concurrently, each seen by one to three
# instrumentation scopes whose spans are nested, siblings or in different branches,
# with or without a shared response id, the outer layers' usage sometimes missing, and
# a stream's wrappers ending a fraction of a millisecond apart in either order. The
# innermost span of each call carries its usage: the tokens sent must be exactly the
# sum over calls, and inspect must predict exactly what was sent.

LAYER_SCOPES = ("framework.fuzz", "client.fuzz", "http.fuzz")


def calls_seen_by(layers: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(
        st.fixed_dictionaries(
            {
                "input": st.integers(1, 50),
                "output": st.integers(1, 50),
                "layers": st.just(layers),
                "nested": st.booleans(),
                "shared_id": st.booleans(),
                "outer_usage": st.booleans(),
                "start_ms": st.floats(0, 300),
                "length_ms": st.floats(20, 200),
                "hair_ms": st.sampled_from([0.0, 0.3, -0.3]),
            }
        ),
        max_size=6,
    )


# One set of instrumentations per run, as in an app: every call is seen by the same
# one to three scopes. (With a different number per call, concurrent calls of nearly
# equal timing can still be paired wrongly: the suite found such a case, see docs/dialects.md, "No double counting".)
layered_calls = st.integers(1, 3).flatmap(calls_seen_by)


def overlapping(calls: list[dict[str, Any]]) -> bool:
    """Whether two calls overlap in time (1 ms of slack, like the rule's)."""
    spans = sorted((c["start_ms"], c["start_ms"] + c["length_ms"] + 1.0) for c in calls)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


@FUZZ
@given(calls=layered_calls)
def test_each_call_counts_once_whatever_its_instrumentations(exact, tmp_path_factory, calls):
    h = exact
    h.exporter.clear()
    base = time.time_ns()
    with ai_run(h.config, h.user, tracer_provider=h.provider, new_trace=True) as run:
        run_id = run.run_id
        for n, call in enumerate(calls):
            parent = None
            start = base + int(call["start_ms"] * 1e6)
            end = start + int(call["length_ms"] * 1e6)
            for layer in range(call["layers"]):
                attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
                if layer == call["layers"] - 1 or call["outer_usage"]:
                    attributes["gen_ai.usage.input_tokens"] = call["input"]
                    attributes["gen_ai.usage.output_tokens"] = call["output"]
                if call["shared_id"]:
                    attributes["gen_ai.response.id"] = "resp-%d" % n
                context = trace.set_span_in_context(parent) if parent is not None else None
                span = h.provider.get_tracer(LAYER_SCOPES[layer]).start_span(
                    "chat", attributes=attributes, start_time=start, context=context
                )
                span.end(end_time=end + (int(call["hair_ms"] * 1e6) if layer else 0))
                if call["nested"]:
                    parent = span
                start += int(call["length_ms"] * 1e5)  # each layer inside the one that wraps it
                end -= int(call["length_ms"] * 1e5)
    events = flush_events(h.ld_client, h.sink, h.processor)
    sent = [(e["key"], e["metricValue"], e["data"].get("toolKey")) for e in events if e["data"]["runId"] == run_id]
    got = got_events(sent)
    inp = sum(c["input"] for c in calls)
    out = sum(c["output"] for c in calls)
    expected_tokens = {"$ld:ai:tokens:input": inp, "$ld:ai:tokens:output": out, "$ld:ai:tokens:total": inp + out}
    sent_tokens = {k: v for k, v in got.items() if k.startswith("$ld:ai:tokens:")}
    if not overlapping(calls):
        assert sent_tokens == (expected_tokens if calls else {})
    else:
        # Concurrent calls with one prompt and nearly equal timing, seen by two or
        # three scopes, can be paired across calls (found by this test: the output
        # of one call counted for another). No span is ever counted twice.
        seen = sum(c["input"] * (c["layers"] if c["outer_usage"] else 1) for c in calls)
        assert 0 < sent_tokens["$ld:ai:tokens:input"] <= seen
        event("concurrent calls")
    assert h.errors.take() == []
    predicted = inspect_events(h.exporter.get_finished_spans(), str(tmp_path_factory.getbasetemp()))
    assert sorted(predicted[(run_id, CHAT)], key=repr) == sorted(sent, key=repr)
    event("layers %s" % sorted({c["layers"] for c in calls}))


# --- Baggage ---------------------------------------------------------------


@pytest.fixture(scope="module")
def genuine_headers(harness) -> dict[str, str]:
    """W3C headers of a real run: a valid signed token bound to its trace."""
    headers: dict[str, str] = {}
    with ai_run(harness.config, harness.user, tracer_provider=harness.provider, new_trace=True):
        harness.propagator.inject(headers)
    harness.settle()
    assert TOKEN_BAGGAGE_KEY in headers["baggage"]
    return headers


def serve_downstream(h: FuzzHarness, headers: dict[str, str]) -> bool:
    """A downstream request from ``headers``; returns whether its server span was recorded."""
    server = h.tracer.start_span("POST /downstream", context=h.propagator.extract(headers))
    recorded = server.is_recording()
    child = h.tracer.start_span(
        "chat",
        context=trace.set_span_in_context(server, OtelContext()),
        attributes={A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_USAGE_INPUT_TOKENS: 5},
    )
    child.end()
    server.end()
    return recorded


baggage_text = st.one_of(
    st.text(max_size=3000),
    st.builds(
        lambda v, rest: TOKEN_BAGGAGE_KEY + "=" + v + rest,
        st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=2500),
        st.sampled_from(["", ",k=v", ";prop", "," + CONTEXT_BAGGAGE_KEY + "=abc.def", ",,=,"]),
    ),
    st.builds(lambda n: TOKEN_BAGGAGE_KEY + "=" + "A" * n + "." + "B" * 22, st.integers(0, 5000)),
)


@FUZZ
@given(header=baggage_text, trace_hex=st.from_regex(r"[0-9a-f]{32}", fullmatch=True))
def test_arbitrary_baggage_headers_never_resume_a_run_nor_get_recorded(harness, header, trace_hex):
    assume(int(trace_hex, 16) != 0)
    h = harness
    headers = {"traceparent": "00-%s-00f067aa0ba902b7-00" % trace_hex, "baggage": header}
    assert serve_downstream(h, headers) is False
    assert h.settle() == []


@FUZZ
@given(data=st.data())
def test_any_change_to_a_genuine_token_is_rejected(harness, genuine_headers, data):
    h = harness
    header = genuine_headers["baggage"]
    start = header.index(TOKEN_BAGGAGE_KEY + "=") + len(TOKEN_BAGGAGE_KEY) + 1
    end = header.find(",", start)
    end = len(header) if end < 0 else end
    token = header[start:end]
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."))
    assume(token[position] != replacement)
    mutated = header[:start] + token[:position] + replacement + token[position + 1 :] + header[end:]
    assert serve_downstream(h, {"traceparent": genuine_headers["traceparent"], "baggage": mutated}) is False
    assert h.settle() == []


def test_a_genuine_token_resumes_only_in_its_own_trace(harness, genuine_headers):
    h = harness
    # The control for the two properties above: unchanged, the token is honoured ...
    assert serve_downstream(h, genuine_headers) is True
    emitted = h.settle()
    assert len(emitted) == 1 and emitted[0][1].input_tokens == 5
    # ... replayed under another trace id, it is not.
    other = dict(genuine_headers)
    trace_hex = genuine_headers["traceparent"].split("-")[1]
    other["traceparent"] = genuine_headers["traceparent"].replace(trace_hex, "%032x" % (int(trace_hex, 16) ^ 1))
    assert serve_downstream(h, other) is False
    assert h.settle() == []


@FUZZ
@given(value=junk_values, with_context_entry=st.booleans())
def test_baggage_values_of_any_python_type_are_contained(harness, value, with_context_entry):
    # In-process code can put any object into baggage (set_baggage takes any value).
    h = harness
    ctx = otel_baggage.set_baggage(TOKEN_BAGGAGE_KEY, value)
    if with_context_entry:
        ctx = otel_baggage.set_baggage(CONTEXT_BAGGAGE_KEY, value, ctx)
    span = h.tracer.start_span("server", context=ctx)
    recorded = span.is_recording()
    span.end()
    assert recorded is False
    assert h.settle() == []


def test_the_fuzzed_runs_reached_launchdarkly_well_formed(harness):
    # Runs last in the module: everything emitted while fuzzing went through
    # the real client; every AI event at the sink carries a valid metric value.
    events = flush_events(harness.ld_client, harness.sink, harness.processor)
    assert events
    for sent in events:
        value = sent.get("metricValue")
        assert isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, sent
