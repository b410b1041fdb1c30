"""Every dialect of docs/dialects.md, normalized into one Observation.

The attribute sets below are copied from spans the real instrumentations wrote
against the loopback OpenAI stub (the conformance suite drives those packages
end to end); the Vercel AI SDK's ``ai.*`` spans come from TypeScript services,
so they are written here by hand from its documented names. Spans are made by
a real SDK TracerProvider; run-level tests go through the real processor and
LDClient to the loopback sink.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from genai import values
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from ldai_otel import ai_run
from ldai_otel.dialects.reader import Dialects, classify, genai_span
from ldai_otel.model.observation import (
    AGENT,
    MODEL,
    OPENINFERENCE,
    OPENLLMETRY,
    OPENLLMETRY_LEGACY,
    OTEL_GENAI,
    TOOL,
    VERCEL_AI,
    Observation,
)


@pytest.fixture
def make_span():
    """Finished real SDK spans with the given attributes (and events, status)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("dialect-tests")

    def make(
        attributes: dict,
        name: str = "span",
        events=(),
        error: bool = False,
        start: int = 1_000_000_000,
        end: int | None = None,
    ):
        span = tracer.start_span(name, attributes=attributes, start_time=start)
        for event_name, timestamp in events:
            span.add_event(event_name, timestamp=timestamp)
        if error:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(end_time=end if end is not None else start + 500_000_000)
        return exporter.get_finished_spans()[-1]

    yield make
    provider.shutdown()


def observe(span) -> Observation | None:
    return Dialects().observe(span)


# --- Model calls: tokens, model, provider, in each dialect -------------------------

MODEL_SPANS = {
    # openai-v2 2.4b0 + util-genai 1.1b0 (current conventions): no total.
    "otel current": (
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024",
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": 7,
        },
        OTEL_GENAI,
        (11, 7, None),
        "gpt-4o-mini",
        "openai",
    ),
    # Deprecated names: gen_ai.system, prompt/completion tokens.
    "otel deprecated": (
        {
            "gen_ai.operation.name": "text_completion",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-3.5",
            "gen_ai.usage.prompt_tokens": 3,
            "gen_ai.usage.completion_tokens": 4,
        },
        OTEL_GENAI,
        (3, 4, None),
        "gpt-3.5",
        "openai",
    ),
    # OpenLLMetry 0.62.4: gen_ai.* plus a total.
    "openllmetry": (
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.is_streaming": False,
            "gen_ai.usage.total_tokens": 18,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.usage.input_tokens": 11,
        },
        OTEL_GENAI,
        (11, 7, 18),
        "gpt-4o-mini",
        "openai",
    ),
    # OpenLLMetry 0.52.6 (legacy): llm.request.type, gen_ai.system, llm.usage.total_tokens.
    "openllmetry legacy": (
        {
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "llm.usage.total_tokens": 18,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.usage.input_tokens": 11,
            "llm.usage.reasoning_tokens": 0,
        },
        OPENLLMETRY_LEGACY,
        (11, 7, 18),
        "gpt-4o-mini",
        "openai",
    ),
    "openllmetry legacy embedding": (
        {
            "llm.request.type": "embedding",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "llm.usage.total_tokens": 5,
            "gen_ai.usage.input_tokens": 5,
        },
        OPENLLMETRY_LEGACY,
        (5, None, 5),
        "text-embedding-3-small",
        "openai",
    ),
    # OpenInference 0.1.66.
    "openinference llm": (
        {
            "openinference.span.kind": "LLM",
            "llm.system": "openai",
            "llm.model_name": "gpt-4o-mini",
            "llm.token_count.total": 18,
            "llm.token_count.prompt": 11,
            "llm.token_count.completion": 7,
        },
        OPENINFERENCE,
        (11, 7, 18),
        "gpt-4o-mini",
        "openai",
    ),
    "openinference llm.provider wins": (
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "azure",
            "llm.system": "openai",
            "llm.model_name": "gpt-4o",
            "llm.token_count.prompt": 1,
            "llm.token_count.completion": 2,
        },
        OPENINFERENCE,
        (1, 2, None),
        "gpt-4o",
        "azure",
    ),
    "openinference embedding": (
        {
            "openinference.span.kind": "EMBEDDING",
            "llm.system": "openai",
            "embedding.model_name": "text-embedding-3-small",
            "llm.token_count.total": 5,
            "llm.token_count.prompt": 5,
        },
        OPENINFERENCE,
        (5, None, 5),
        "text-embedding-3-small",
        "openai",
    ),
    "openinference error span (model only in invocation parameters)": (
        {
            "openinference.span.kind": "LLM",
            "llm.system": "openai",
            "llm.invocation_parameters": json.dumps({"model": "fail-500", "temperature": 0.2}),
        },
        OPENINFERENCE,
        (None, None, None),
        "fail-500",
        "openai",
    ),
    # pydantic-ai 2.68.0 chat span: both provider keys.
    "pydantic-ai chat": (
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": 7,
            "operation.cost": 5.85e-06,
        },
        OTEL_GENAI,
        (11, 7, None),
        "gpt-4o-mini",
        "openai",
    ),
    # Vercel AI SDK v4 (promptTokens) and v5 (inputTokens) doGenerate spans.
    "vercel v4": (
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "gpt-4o",
            "ai.model.provider": "openai.chat",
            "ai.usage.promptTokens": 9,
            "ai.usage.completionTokens": 3,
        },
        VERCEL_AI,
        (9, 3, None),
        "gpt-4o",
        "openai.chat",
    ),
    "vercel v5": (
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.id": "gpt-4o",
            "ai.model.provider": "openai.responses",
            "ai.usage.inputTokens": 9,
            "ai.usage.outputTokens": 3,
            "ai.usage.totalTokens": 12,
        },
        VERCEL_AI,
        (9, 3, 12),
        "gpt-4o",
        "openai.responses",
    ),
    "vercel embed": (
        {
            "ai.operationId": "ai.embed.doEmbed",
            "ai.model.id": "text-embedding-3-small",
            "ai.model.provider": "openai",
            "ai.usage.tokens": 5,
        },
        VERCEL_AI,
        (5, None, None),
        "text-embedding-3-small",
        "openai",
    ),
}


@pytest.mark.parametrize("case", list(MODEL_SPANS), ids=list(MODEL_SPANS))
def test_model_calls_of_every_dialect(make_span, case):
    attributes, dialect, (inp, out, total), model, provider = MODEL_SPANS[case]
    obs = observe(make_span(attributes))
    assert obs is not None and obs.kind == MODEL and obs.dialect == dialect
    assert (obs.input_tokens, obs.output_tokens, obs.total_tokens) == (inp, out, total)
    assert obs.model == model
    assert obs.provider == provider
    assert obs.error is False


CACHE_SPELLINGS = [
    ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_creation.input_tokens"),
    ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_write.input_tokens"),
    ("gen_ai.usage.input_tokens.cached", "gen_ai.usage.input_tokens.cache_write"),
    ("gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_creation_input_tokens"),
    ("llm.token_count.prompt_details.cache_read", "llm.token_count.prompt_details.cache_write"),
]


@pytest.mark.parametrize("read_key,write_key", CACHE_SPELLINGS)
def test_cache_counts_in_every_spelling_are_read_as_subsets(make_span, read_key, write_key):
    obs = observe(
        make_span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 10,
                read_key: 60,
                write_key: 30,
                "gen_ai.usage.reasoning.output_tokens": 4,
            }
        )
    )
    assert (obs.cache_read_tokens, obs.cache_write_tokens, obs.reasoning_tokens) == (60, 30, 4)
    assert (obs.input_tokens, obs.output_tokens, obs.total_tokens) == (100, 10, None)


def test_cached_and_reasoning_tokens_are_never_added(provider, tracer, chat_config, user, collect):
    with ai_run(chat_config, user, tracer_provider=provider):
        tracer.start_span(
            "chat",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.usage.input_tokens": 100,
                "gen_ai.usage.output_tokens": 10,
                "gen_ai.usage.cache_read.input_tokens": 60,
                "gen_ai.usage.cache_creation.input_tokens": 30,
                "gen_ai.usage.reasoning.output_tokens": 4,
            },
        ).end()
    got = values(collect())
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"], got["$ld:ai:tokens:total"]) == (100, 10, 110)


# --- Classification --------------------------------------------------------------------

TOOLS = {
    "otel": ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"}, OTEL_GENAI),
    "openinference": ({"openinference.span.kind": "TOOL", "tool.name": "get_weather"}, OPENINFERENCE),
    "traceloop": ({"traceloop.span.kind": "tool", "traceloop.entity.name": "get_weather"}, OPENLLMETRY),
    "vercel": ({"ai.operationId": "ai.toolCall", "ai.toolCall.name": "get_weather"}, VERCEL_AI),
}


@pytest.mark.parametrize("case", list(TOOLS))
def test_tool_spans_of_every_dialect(make_span, case):
    attributes, dialect = TOOLS[case]
    obs = observe(make_span(attributes, name="a tool"))
    assert (obs.kind, obs.tool_name, obs.dialect) == (TOOL, "get_weather", dialect)


def test_a_tool_span_without_a_name_is_named_by_the_span(make_span):
    obs = observe(make_span({"gen_ai.operation.name": "execute_tool"}, name="execute_tool lookup"))
    assert obs.tool_name == "execute_tool lookup"


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.operation.name": "invoke_agent"},
        {"gen_ai.operation.name": "invoke_workflow"},
        {"gen_ai.operation.name": "create_agent"},
        {"gen_ai.operation.name": "plan"},
        {"openinference.span.kind": "AGENT"},
        {"openinference.span.kind": "CHAIN"},
        {"traceloop.span.kind": "workflow"},
        {"traceloop.span.kind": "task"},
        {"traceloop.span.kind": "agent"},
        {"ai.operationId": "ai.generateText"},
        {"ai.operationId": "ai.streamText"},
    ],
)
def test_agent_and_workflow_spans_of_every_dialect(make_span, attributes):
    assert observe(make_span(attributes)).kind == AGENT


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"http.method": "GET"},
        {"gen_ai.operation.name": "retrieval"},
        {"openinference.span.kind": "RETRIEVER"},
        {"llm.request.type": "unknown"},
        {"ai.operationId": "ai.somethingElse"},
        {"gen_ai.usage.input_tokens": 5},  # usage alone does not make a model call
    ],
)
def test_other_spans_are_not_genai(make_span, attributes):
    assert observe(make_span(attributes)) is None


def test_pydantic_ai_agent_usage_is_the_aggregate(make_span):
    obs = observe(
        make_span(
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "weather_agent",
                "gen_ai.aggregated_usage.input_tokens": 22,
                "gen_ai.aggregated_usage.output_tokens": 14,
            }
        )
    )
    assert (obs.kind, obs.input_tokens, obs.output_tokens) == (AGENT, 22, 14)


def test_first_dialect_that_marks_the_span_wins_and_every_spelling_is_read(make_span):
    # A span marked by OpenInference that also carries semconv usage.
    obs = observe(
        make_span(
            {
                "openinference.span.kind": "LLM",
                "gen_ai.usage.input_tokens": 4,
                "llm.token_count.completion": 2,
            }
        )
    )
    assert (obs.dialect, obs.input_tokens, obs.output_tokens) == (OPENINFERENCE, 4, 2)
    assert classify({"gen_ai.operation.name": "chat", "openinference.span.kind": "TOOL"}) == (MODEL, OTEL_GENAI)


# --- Time to first token, in milliseconds from every source ------------------------------


def test_time_to_first_token_from_seconds_attributes(make_span):
    for key in ("gen_ai.response.time_to_first_chunk", "gen_ai.client.operation.time_to_first_chunk"):
        obs = observe(make_span({"gen_ai.operation.name": "chat", key: 0.25}))
        assert obs.time_to_first_token_ms == pytest.approx(250.0)


def test_time_to_first_token_from_the_vercel_millisecond_attributes(make_span):
    for key in ("ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"):
        obs = observe(make_span({"ai.operationId": "ai.streamText.doStream", key: 123.5}))
        assert obs.time_to_first_token_ms == pytest.approx(123.5)


@pytest.mark.parametrize(
    "attributes,event",
    [
        ({"openinference.span.kind": "LLM"}, "First Token Stream Event"),
        ({"gen_ai.operation.name": "chat", "gen_ai.is_streaming": True}, "gen_ai.content.completion.chunk"),
        ({"llm.request.type": "chat", "llm.is_streaming": True}, "llm.content.completion.chunk"),
    ],
)
def test_time_to_first_token_from_the_first_chunk_event(make_span, attributes, event):
    start = 5_000_000_000
    obs = observe(
        make_span(
            attributes,
            start=start,
            events=[("other", start + 1_000_000), (event, start + 42_000_000), (event, start + 90_000_000)],
        )
    )
    assert obs.time_to_first_token_ms == pytest.approx(42.0)


def test_attribute_beats_event_and_non_model_spans_have_none(make_span):
    start = 5_000_000_000
    obs = observe(
        make_span(
            {"gen_ai.operation.name": "chat", "gen_ai.response.time_to_first_chunk": 0.01},
            start=start,
            events=[("gen_ai.content.completion.chunk", start + 99_000_000)],
        )
    )
    assert obs.time_to_first_token_ms == pytest.approx(10.0)
    agent = observe(make_span({"gen_ai.operation.name": "invoke_agent", "gen_ai.response.time_to_first_chunk": 1.0}))
    assert agent.time_to_first_token_ms is None


# --- Tool calls asked for in model responses ----------------------------------------------


def test_response_tool_calls_from_semconv_output_messages(make_span):
    messages = [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "name": "get_weather", "id": "1"},
                {"type": "tool_call", "name": "get_time"},
                {"type": "text", "content": "tool_call"},
            ],
        }
    ]
    obs = observe(make_span({"gen_ai.operation.name": "chat", "gen_ai.output.messages": json.dumps(messages)}))
    assert list(obs.response_tool_calls) == ["get_weather", "get_time"]


def test_response_tool_calls_from_openinference_output_messages(make_span):
    obs = observe(
        make_span(
            {
                "openinference.span.kind": "LLM",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
                "llm.output_messages.0.message.tool_calls.1.tool_call.function.name": "get_time",
                "llm.input_messages.1.message.tool_calls.0.tool_call.function.name": "not_a_response",
            }
        )
    )
    assert list(obs.response_tool_calls) == ["get_weather", "get_time"]


def test_response_tool_calls_from_openinference_google_genai_automatic_function_calling(make_span):
    # openinference-instrumentation-google-genai 1.4.14: the calls the SDK made
    # for the model during automatic function calling, without a message prefix.
    obs = observe(
        make_span(
            {
                "openinference.span.kind": "LLM",
                "message.tool_calls.0.tool_call.function.name": "get_weather",
                "message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}',
                "message.tool_calls.1.tool_call.function.name": "get_time",
            }
        )
    )
    assert list(obs.response_tool_calls) == ["get_weather", "get_time"]
    # Other dialects' spans do not read the unprefixed keys.
    other = observe(
        make_span({"gen_ai.operation.name": "chat", "message.tool_calls.0.tool_call.function.name": "get_weather"})
    )
    assert list(other.response_tool_calls) == []


def test_response_tool_calls_from_legacy_openllmetry_completions(make_span):
    obs = observe(
        make_span(
            {
                "llm.request.type": "chat",
                "gen_ai.completion.0.tool_calls.0.name": "get_weather",
                "gen_ai.prompt.1.tool_calls.0.name": "not_a_response",
            }
        )
    )
    assert list(obs.response_tool_calls) == ["get_weather"]


def test_response_tool_calls_from_vercel(make_span):
    calls = [{"toolCallType": "function", "toolCallId": "c1", "toolName": "get_weather", "args": "{}"}]
    obs = observe(
        make_span(
            {
                "ai.operationId": "ai.generateText.doGenerate",
                "ai.response.toolCalls": json.dumps(calls),
            }
        )
    )
    assert list(obs.response_tool_calls) == ["get_weather"]


@pytest.mark.parametrize(
    "raw",
    [
        "not json tool_call",
        "[tool_call",
        json.dumps({"tool_call": 1}),
        json.dumps([1, "tool_call", {"parts": "tool_call"}, {"parts": [None, 3]}]),
    ],
)
def test_broken_output_messages_give_no_tool_calls(make_span, raw):
    obs = observe(make_span({"gen_ai.operation.name": "chat", "gen_ai.output.messages": raw}))
    assert obs is not None and list(obs.response_tool_calls) == []


# --- Errors, logfire, junk ---------------------------------------------------------------------


def test_error_from_status_or_error_type(make_span):
    assert observe(make_span({"gen_ai.operation.name": "chat"}, error=True)).error is True
    # OpenInference and pydantic-ai set no error.type; openai-v2 1.1b0 writes a junk one.
    junk_type = "<class 'openai.InternalServerError'>"
    assert observe(make_span({"gen_ai.operation.name": "chat", "error.type": junk_type})).error
    assert observe(make_span({"gen_ai.operation.name": "chat", "error.type": ""})).error is False
    assert observe(make_span({"gen_ai.operation.name": "chat", "error.type": 5})).error is False


def test_logfire_stream_log_span_is_stretched_back_over_the_stream(make_span):
    end = 10_000_000_000
    obs = observe(
        make_span(
            {
                "logfire.span_type": "log",
                "gen_ai.operation.name": "chat",
                "duration": 0.25,
                "gen_ai.usage.input_tokens": 11,
                "gen_ai.usage.output_tokens": 7,
            },
            start=end,
            end=end,
        )
    )
    assert (obs.kind, obs.input_tokens, obs.output_tokens) == (MODEL, 11, 7)
    assert (obs.start_ns, obs.end_ns) == (end - 250_000_000, end)


JUNK = ["12", True, False, -5, math.nan, math.inf, -math.inf, [1, 2], {"a": 1}, None, b"7", 1e400]


@pytest.mark.parametrize("junk", JUNK, ids=[repr(j) for j in JUNK])
def test_junk_values_are_ignored_never_raised(make_span, junk):
    span = make_span({"gen_ai.operation.name": "chat"})
    keys = [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.total_tokens",
        "llm.token_count.prompt",
        "gen_ai.response.time_to_first_chunk",
        "ai.response.msToFirstChunk",
        "gen_ai.request.model",
        "gen_ai.provider.name",
        "gen_ai.output.messages",
        "error.type",
        "gen_ai.usage.cache_read.input_tokens",
        "duration",
        "logfire.span_type",
    ]
    for operation in ("chat", "invoke_agent", "execute_tool"):
        attrs: dict[str, Any] = {key: junk for key in keys}
        attrs["gen_ai.operation.name"] = operation
        obs = genai_span(span, attrs)
        assert obs is not None
        assert obs.input_tokens is None and obs.output_tokens is None and obs.total_tokens is None
        assert obs.time_to_first_token_ms is None
        if not isinstance(junk, str):  # a string is a fine model name
            assert obs.model is None and obs.provider is None
    for classifier_key in (
        "gen_ai.operation.name",
        "openinference.span.kind",
        "llm.request.type",
        "traceloop.span.kind",
        "ai.operationId",
    ):
        assert genai_span(span, {classifier_key: junk}) is None


def test_agent_usage_counts_only_without_model_usage(provider, tracer, chat_config, user, collect):
    # An OpenInference agent with usage over an LLM span that recorded none.
    with ai_run(chat_config, user, tracer_provider=provider):
        with tracer.start_as_current_span(
            "agent",
            attributes={
                "openinference.span.kind": "AGENT",
                "llm.token_count.prompt": 30,
                "llm.token_count.completion": 6,
            },
        ):
            tracer.start_span("llm", attributes={"openinference.span.kind": "LLM", "llm.model_name": "m"}).end()
    got = values(collect())
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"], got["$ld:ai:tokens:total"]) == (30, 6, 36)


def test_a_vercel_run_counts_steps_once_with_tools_and_first_token(provider, tracer, chat_config, user, collect):
    with ai_run(chat_config, user, tracer_provider=provider):
        with tracer.start_as_current_span(
            "ai.streamText",
            attributes={
                "ai.operationId": "ai.streamText",
                "ai.usage.inputTokens": 30,
                "ai.usage.outputTokens": 10,
                "ai.response.msToFirstChunk": 999.0,
            },
        ):
            tracer.start_span(
                "ai.streamText.doStream",
                attributes={
                    "ai.operationId": "ai.streamText.doStream",
                    "ai.model.id": "gpt-4o",
                    "ai.model.provider": "openai.chat",
                    "ai.usage.inputTokens": 10,
                    "ai.usage.outputTokens": 5,
                    "ai.response.msToFirstChunk": 120.0,
                    "ai.response.toolCalls": json.dumps([{"toolName": "get_weather"}]),
                },
            ).end()
            tracer.start_span(
                "ai.toolCall",
                attributes={
                    "ai.operationId": "ai.toolCall",
                    "ai.toolCall.name": "get_weather",
                },
            ).end()
            tracer.start_span(
                "ai.streamText.doStream",
                attributes={
                    "ai.operationId": "ai.streamText.doStream",
                    "ai.usage.inputTokens": 20,
                    "ai.usage.outputTokens": 5,
                    "ai.response.msToFirstChunk": 80.0,
                },
            ).end()
    got = values(collect())
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"], got["$ld:ai:tokens:total"]) == (30, 10, 40)
    assert got["$ld:ai:tokens:ttf"] == 120
    assert got["$ld:ai:tool_call"] == ["get_weather"]  # the tool span, not also the response


def test_two_instrumentations_on_one_call_count_once_and_pool_their_facts(provider, chat_config, user, collect):
    # openai-v2 outside (usage, no content), OpenInference inside (usage, first token, tool calls):
    # two instrumentation scopes, as the real packages write them.
    outer_tracer = provider.get_tracer("opentelemetry.util.genai.handler")
    tracer = provider.get_tracer("openinference.instrumentation.openai")
    start = time.time_ns()
    with ai_run(chat_config, user, tracer_provider=provider):
        with outer_tracer.start_as_current_span(
            "chat gpt-4o-mini",
            start_time=start,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.usage.input_tokens": 11,
                "gen_ai.usage.output_tokens": 7,
            },
        ):
            inner = tracer.start_span(
                "ChatCompletion",
                start_time=start + 1_000_000,
                attributes={
                    "openinference.span.kind": "LLM",
                    "llm.token_count.prompt": 11,
                    "llm.token_count.completion": 7,
                    "llm.token_count.total": 18,
                    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
                },
            )
            inner.add_event("First Token Stream Event", timestamp=start + 31_000_000)
            inner.end(end_time=start + 50_000_000)
    got = values(collect())
    assert (got["$ld:ai:tokens:input"], got["$ld:ai:tokens:output"], got["$ld:ai:tokens:total"]) == (11, 7, 18)
    assert got["$ld:ai:tokens:ttf"] == 30
    assert got["$ld:ai:tool_call"] == ["get_weather"]


def test_an_extractor_registered_by_the_user_runs_first(make_span):
    def in_house(span, attrs):
        if attrs.get("acme.kind") != "llm":
            return None
        return Observation(kind=MODEL, input_tokens=attrs.get("acme.in"), dialect="acme")

    obs = Dialects([in_house]).observe(make_span({"acme.kind": "llm", "acme.in": 3, "gen_ai.operation.name": "chat"}))
    assert (obs.dialect, obs.input_tokens) == ("acme", 3)
    assert Dialects([in_house]).observe(make_span({"gen_ai.operation.name": "chat"})).dialect == OTEL_GENAI
