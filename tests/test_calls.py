"""One model call counts once (docs/dialects.md, "No double counting"), LaunchDarkly's token rule for every
provider, and handoffs that are not tool calls (issue 10, items 1-3).

The span shapes are those the real packages write (scope names, attribute names and
values, parent links and relative intervals as the conformance suites recorded them:
anthropic 2.15.0 and Traceloop / OpenInference anthropic, contrib botocore 0.66b2 and
Traceloop bedrock 0.62.4, OpenInference and Traceloop LangChain with OpenAI-client
instrumentations, OpenInference and Traceloop openai-agents, Strands). Spans are made by a
real TracerProvider with one tracer per instrumentation scope, and go through a real
LDAISpanProcessor and LDClient to the loopback sink; ``ldai-otel inspect`` reads the same
spans back from OTLP JSON and must predict exactly the events sent.
"""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from genai import values
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from otlp_json import FileSpanExporter

from ldai_otel import ai_run
from ldai_otel.dialects.reader import Dialects
from ldai_otel.inspect.reading import read_file
from ldai_otel.inspect.runs import RecordingClient, build_runs, emit
from ldai_otel.model.observation import HANDOFF, Observation
from ldai_otel.rules.calls import model_calls

ANTHROPIC_SDK = "com.anthropic.sdk.python"
TRACELOOP_ANTHROPIC = "opentelemetry.instrumentation.anthropic"
OPENINFERENCE_ANTHROPIC = "openinference.instrumentation.anthropic"
BOTOCORE = "opentelemetry.instrumentation.botocore.bedrock-runtime"
TRACELOOP_BEDROCK = "opentelemetry.instrumentation.bedrock"
OPENINFERENCE_BEDROCK = "openinference.instrumentation.bedrock"
OPENINFERENCE_LANGCHAIN = "openinference.instrumentation.langchain"
OPENINFERENCE_OPENAI = "openinference.instrumentation.openai"
OPENAI_V2 = "opentelemetry.util.genai.handler"
TRACELOOP_LANGCHAIN = "opentelemetry.instrumentation.langchain"
OPENINFERENCE_AGENTS = "openinference.instrumentation.openai_agents"
TRACELOOP_AGENTS = "opentelemetry.instrumentation.openai_agents"

MS = 1_000_000


def semconv_chat(inp: int | None = 11, out: int | None = 7, **extra: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    if inp is not None:
        attributes["gen_ai.usage.input_tokens"] = inp
    if out is not None:
        attributes["gen_ai.usage.output_tokens"] = out
    attributes.update(extra)
    return attributes


def openinference_llm(prompt: int | None = 11, completion: int | None = 7, **extra: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"openinference.span.kind": "LLM", "llm.model_name": "m"}
    if prompt is not None:
        attributes.update(
            {"llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
             "llm.token_count.total": prompt + (completion or 0)}
        )  # fmt: skip
    attributes.update(extra)
    return attributes


class Spans:
    """Writes spans of several instrumentation scopes at given offsets (ms) from one base time."""

    def __init__(self, provider) -> None:
        self.provider = provider
        self.base = time.time_ns()

    def span(
        self,
        scope: str,
        name: str,
        attributes: dict[str, Any],
        start_ms: float,
        end_ms: float,
        parent=None,
        error: bool = False,
        events: tuple[tuple[str, float], ...] = (),
    ):
        tracer = self.provider.get_tracer(scope)
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = tracer.start_span(
            name, attributes=attributes, start_time=self.base + int(start_ms * MS), context=context
        )
        for event_name, at_ms in events:
            span.add_event(event_name, timestamp=self.base + int(at_ms * MS))
        if error:
            span.set_status(Status(StatusCode.ERROR, "boom"))
        span.end(end_time=self.base + int(end_ms * MS))
        return span


@pytest.fixture
def otlp(provider):
    """The run's spans as the OTLP JSON file exporter writes them."""
    stream = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    return stream


def tokens(got: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (got.get("$ld:ai:tokens:input"), got.get("$ld:ai:tokens:output"), got.get("$ld:ai:tokens:total"))


def assert_inspect_predicts(otlp: io.StringIO, events: list[dict], tmp_path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text(otlp.getvalue())
    client = RecordingClient()
    predicted = []
    for trace_record in read_file(str(path)).traces.values():
        for report in build_runs(trace_record, None)[0]:
            emit(report, client)
            run_id = report.segment.binding.run_id
            predicted += [(run_id, key, value, data.get("toolKey")) for key, value, data in report.events]
    sent = [(e["data"]["runId"], e["key"], e["metricValue"], e["data"].get("toolKey")) for e in events]
    assert sorted(predicted, key=repr) == sorted(sent, key=repr)


# --- Same call: a shared response id ------------------------------------------------


def test_sibling_spans_sharing_a_response_id_are_one_call_and_the_inner_one_wins(
    provider, chat_config, user, collect, otlp, tmp_path
):
    # anthropic's own span inside Traceloop anthropic's, both children of ai_run, same
    # gen_ai.response.id; a stream: Traceloop adds message_start's 3 to the final 7.
    s = Spans(provider)
    cache = {"gen_ai.usage.cache_read.input_tokens": 100}
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(
            TRACELOOP_ANTHROPIC,
            "anthropic.chat",
            semconv_chat(125, 10, **cache, **{"gen_ai.response.id": "msg_1", "gen_ai.usage.total_tokens": 135}),
            0,
            100,
        )
        s.span(
            ANTHROPIC_SDK,
            "anthropic.messages.create",
            semconv_chat(
                125,
                7,
                **cache,
                **{"gen_ai.response.id": "msg_1", "gen_ai.usage.cache_write.input_tokens": 20},
                **{"gen_ai.response.time_to_first_chunk": 0.04},
            ),
            5,
            95,
        )
    events = collect()
    got = values(events)
    assert tokens(got) == (125, 7, 132)
    assert got["$ld:ai:tokens:ttf"] == 40
    assert_inspect_predicts(otlp, events, tmp_path)


def test_one_id_on_every_call_of_one_scope_is_no_identity(provider, chat_config, user, collect):
    # A proxy (or a test stub) answering every call with one id: the calls stay apart.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        for i in range(3):
            s.span(OPENAI_V2, "chat m", semconv_chat(**{"gen_ai.response.id": "chatcmpl-stub-1"}), i * 10, i * 10 + 5)
    assert tokens(values(collect())) == (33, 21, 54)


def test_two_spans_of_one_scope_are_never_one_call_even_nested(provider, chat_config, user, collect):
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        outer = provider.get_tracer(OPENAI_V2).start_span("chat m", attributes=semconv_chat(), start_time=s.base)
        s.span(OPENAI_V2, "chat m", semconv_chat(**{"gen_ai.response.id": "x"}), 1, 9, parent=outer)
        outer.end(end_time=s.base + 10 * MS)
    assert tokens(values(collect())) == (22, 14, 36)


# --- Same call: one-to-one containment across scopes ----------------------------------


def test_a_client_span_in_another_branch_inside_the_framework_span_is_the_same_call(
    provider, chat_config, user, collect, otlp, tmp_path
):
    # OpenInference LangChain's LLM span is 3 levels down an agent; OpenInference
    # openai's client span is a child of ai_run (LangChain never makes its span current).
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        agent = provider.get_tracer(OPENINFERENCE_LANGCHAIN).start_span(
            "weather_agent", attributes={"openinference.span.kind": "AGENT"}, start_time=s.base
        )
        chain = s.span(OPENINFERENCE_LANGCHAIN, "RunnableSequence", {"openinference.span.kind": "CHAIN"}, 0, 120, agent)
        s.span(OPENINFERENCE_LANGCHAIN, "ChatOpenAI", openinference_llm(), 1, 110, chain)
        s.span(
            OPENINFERENCE_OPENAI,
            "ChatCompletion",
            openinference_llm(),
            27,
            108,
            events=(("First Token Stream Event", 57),),
        )
        agent.end(end_time=s.base + 130 * MS)
    events = collect()
    got = values(events)
    assert tokens(got) == (11, 7, 18)
    assert got["$ld:ai:tokens:ttf"] == 30  # the client span's (innermost) first token
    assert_inspect_predicts(otlp, events, tmp_path)


def test_a_concurrent_batch_of_three_under_two_instrumentations_is_three_calls(
    provider, chat_config, user, collect, otlp, tmp_path
):
    # LangChain batch() of 3 prompts with OpenInference LangChain + OpenInference openai,
    # the intervals (ms) the conformance run recorded: B contains all three client spans,
    # usage is identical, and only the pairing A-X, C-Y, B-Z is one-to-one.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        for start, end in ((3.3, 52.2), (7.3, 72.5), (34.3, 68.3)):
            s.span(OPENINFERENCE_LANGCHAIN, "ChatOpenAI", openinference_llm(), start, end)
        for start, end in ((29.6, 51.4), (37.4, 67.5), (37.8, 71.8)):
            s.span(OPENINFERENCE_OPENAI, "ChatCompletion", openinference_llm(), start, end)
    events = collect()
    assert tokens(values(events)) == (33, 21, 54)
    assert_inspect_predicts(otlp, events, tmp_path)


def test_concurrent_calls_whose_spans_all_nest_in_one_another_still_count_once_each(
    provider, chat_config, user, collect
):
    # Three concurrent calls with the same prompt, every framework span containing every
    # client span (the batch as recorded in another run): any pairing gives the same counts.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        for start, end in ((16.9, 101.2), (18.1, 97.0), (21.2, 102.3)):
            s.span(OPENINFERENCE_LANGCHAIN, "ChatOpenAI", openinference_llm(), start, end)
        for start, end in ((22.2, 80.0), (33.9, 78.0), (41.5, 94.8)):
            s.span(OPENINFERENCE_OPENAI, "ChatCompletion", openinference_llm(), start, end)
    assert tokens(values(collect())) == (33, 21, 54)


def test_spans_of_one_stream_ending_a_hair_apart_in_either_order_are_one_call(provider, chat_config, user, collect):
    # botocore's ConverseStream span ends 0.3 ms after Traceloop bedrock's (recorded).
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(TRACELOOP_BEDROCK, "chat claude", TRACELOOP_BEDROCK_CACHED, 939.4, 1109.0)
        s.span(BOTOCORE, "chat anthropic.claude", BOTOCORE_CACHED, 972.9, 1109.3)
    assert tokens(values(collect())) == (125, 7, 132)


@pytest.mark.parametrize(
    "spans,expected",
    [
        # Found by the fuzz suite. A framework span with usage and one without, both
        # containing a client span with usage: the usage-less wrapper holds it.
        ([("f", 0, 20, 1), ("f", 0, 20, None), ("c", 2, 18, 1)], [[1], [3, 2]]),
        # Two framework spans (one usage-less) around two client spans: two calls.
        ([("f", 0, 20, None), ("f", 0, 20, 1), ("c", 2, 18, 1), ("c", 2, 18, 1)], [[4, 1], [3, 2]]),
        # Three scopes: the client and http spans pair first, then the usage-less wrapper holds them.
        ([("f", 0, 20, 1), ("f", 0, 20, None), ("c", 2, 18, None), ("h", 4, 16, 1)], [[1], [4, 3, 2]]),
        # A retry: the framework span pairs with the attempt whose usage agrees.
        ([("f", 0, 100, 1), ("c", 5, 20, None), ("c", 30, 95, 1)], [[2], [3, 1]]),
    ],
)
def test_usage_less_spans_among_concurrent_calls(spans, expected):
    observations = [
        Observation(kind="model", input_tokens=inp, scope=scope, span_id=i, start_ns=start * MS, end_ns=end * MS)
        for i, (scope, start, end, inp) in enumerate(spans, start=1)
    ]
    assert [[o.span_id for o in call] for call in model_calls(observations)] == expected


def test_an_ambiguous_pairing_with_a_usage_less_side_is_not_guessed():
    # Two concurrent framework spans with usage, two client spans without (failed or
    # unmetered attempts) inside both: which is whose is unknown, so none is merged.
    def obs(span_id: int, scope: str, start: int, end: int, inp: int | None) -> Observation:
        return Observation(kind="model", input_tokens=inp, scope=scope, span_id=span_id, start_ns=start, end_ns=end)

    spans = [obs(1, "lc", 0, 100 * MS, 11), obs(2, "lc", MS, 101 * MS, 11)]
    spans += [obs(3, "client", 10 * MS, 90 * MS, None), obs(4, "client", 11 * MS, 91 * MS, None)]
    assert len(model_calls(spans)) == 4
    # With one client span only, the pairing is still ambiguous (two framework spans contain it).
    assert len(model_calls(spans[:3])) == 3
    # With one framework span and one client span, it is not.
    assert len(model_calls([spans[0], spans[2]])) == 1


def test_concurrent_calls_with_different_prompts_pair_by_usage(provider, chat_config, user, collect):
    # Same crossed intervals, but the prompts differ: the input counts pair them.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(OPENINFERENCE_LANGCHAIN, "ChatOpenAI", openinference_llm(11, 7), 0, 100)
        s.span(OPENINFERENCE_LANGCHAIN, "ChatOpenAI", openinference_llm(40, 2), 1, 101)
        s.span(OPENAI_V2, "chat m", semconv_chat(40, 2), 10, 90)
        s.span(OPENAI_V2, "chat m", semconv_chat(11, 7), 11, 91)
    assert tokens(values(collect())) == (51, 9, 60)


def test_nested_spans_that_disagree_are_one_call_and_the_inner_one_wins(provider, chat_config, user, collect):
    # OpenInference google-genai's span over contrib google-genai's (its child) on one call.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        outer = provider.get_tracer("openinference.instrumentation.google_genai").start_span(
            "GenerateContent", attributes=openinference_llm(20, 7), start_time=s.base
        )
        s.span("opentelemetry.instrumentation.google_genai", "generate_content m", semconv_chat(11, 7), 1, 50, outer)
        outer.end(end_time=s.base + 51 * MS)
    assert tokens(values(collect())) == (11, 7, 18)


def test_spans_whose_prompt_counts_disagree_are_two_calls(provider, chat_config, user, collect):
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(OPENINFERENCE_LANGCHAIN, "ChatOpenAI", openinference_llm(11, 7), 0, 100)
        s.span(OPENAI_V2, "chat m", semconv_chat(12, 7), 10, 90)
    assert tokens(values(collect())) == (23, 14, 37)


def test_a_retried_call_inside_a_framework_span_counts_once_and_succeeds(provider, chat_config, user, collect):
    # LangChain's span (usage) over two client attempts: a 500 (no usage), then the retry.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(OPENINFERENCE_LANGCHAIN, "ChatOpenAI", openinference_llm(), 0, 100)
        s.span(
            OPENAI_V2, "chat m", semconv_chat(None, None, **{"error.type": "InternalServerError"}), 5, 20, error=True
        )
        s.span(OPENAI_V2, "chat m", semconv_chat(), 30, 95)
    got = values(collect())
    assert tokens(got) == (11, 7, 18)
    assert got["$ld:ai:generation:success"] == 1 and "$ld:ai:generation:error" not in got


def test_sequential_calls_under_three_instrumentations_count_once_each(provider, chat_config, user, collect):
    # LangChain > openai-v2 > OpenInference openai nested, twice in a row.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        for offset in (0, 200):
            outer = provider.get_tracer(TRACELOOP_LANGCHAIN).start_span(
                "ChatOpenAI.chat", attributes=semconv_chat(), start_time=s.base + offset * MS
            )
            middle = s.span(OPENAI_V2, "chat m", semconv_chat(), offset + 5, offset + 90, parent=outer)
            s.span(OPENINFERENCE_OPENAI, "ChatCompletion", openinference_llm(), offset + 6, offset + 80, parent=middle)
            outer.end(end_time=s.base + (offset + 100) * MS)
    assert tokens(values(collect())) == (22, 14, 36)


def test_today_s_nested_rule_holds_failed_call_with_no_usage_on_either_side(provider, chat_config, user, collect):
    # anthropic SDK span inside OpenInference's (create), both failing with HTTP 500.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        outer = provider.get_tracer(OPENINFERENCE_ANTHROPIC).start_span(
            "messages.create", attributes=openinference_llm(None), start_time=s.base
        )
        outer.set_status(Status(StatusCode.ERROR, "500"))
        s.span(ANTHROPIC_SDK, "anthropic.messages.create", semconv_chat(None, None), 2, 40, outer, error=True)
        outer.end(end_time=s.base + 50 * MS)
    got = values(collect())
    assert got["$ld:ai:generation:error"] == 1
    assert not [k for k in got if k.startswith("$ld:ai:tokens")]


def test_model_calls_groups_spans_innermost_first():
    def obs(span_id: int, scope: str, start: int, end: int, inp: int | None = 11) -> Observation:
        return Observation(
            kind="model", input_tokens=inp, scope=scope, span_id=span_id, start_ns=start, end_ns=end, parent_id=0
        )

    spans = [obs(1, "a", 0, 100 * MS), obs(2, "b", 10 * MS, 90 * MS, None), obs(3, "a", 200 * MS, 300 * MS)]
    calls = model_calls([*spans, Observation("tool")])
    assert [[o.span_id for o in call] for call in calls] == [[2, 1], [3]]


# --- LaunchDarkly's token rule: cache-exclusive input normalized by scope and provider ---

BEDROCK_CACHED = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "gen_ai.usage.input_tokens": 5,
    "gen_ai.usage.output_tokens": 7,
    "gen_ai.usage.cache_read.input_tokens": 100,
    "gen_ai.usage.cache_creation.input_tokens": 20,
}
BOTOCORE_CACHED = {**BEDROCK_CACHED, "gen_ai.system": "aws.bedrock"}
TRACELOOP_BEDROCK_CACHED = {**BEDROCK_CACHED, "gen_ai.provider.name": "aws.bedrock", "gen_ai.usage.total_tokens": 12}


@pytest.mark.parametrize(
    "scope,attributes",
    [(BOTOCORE, BOTOCORE_CACHED), (TRACELOOP_BEDROCK, TRACELOOP_BEDROCK_CACHED)],
    ids=["contrib-botocore", "traceloop-bedrock"],
)
def test_bedrock_cache_exclusive_input_gets_the_cache_added_back(
    provider, chat_config, user, collect, otlp, tmp_path, scope, attributes
):
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(scope, "chat m", attributes, 0, 50)
    events = collect()
    assert tokens(values(events)) == (125, 7, 132)
    assert_inspect_predicts(otlp, events, tmp_path)


@pytest.mark.parametrize(
    "scope,attributes",
    [
        (ANTHROPIC_SDK, {**BEDROCK_CACHED, "gen_ai.provider.name": "aws.bedrock"}),  # another scope
        (BOTOCORE, {**BEDROCK_CACHED, "gen_ai.system": "anthropic"}),  # another provider
        ("opentelemetry.instrumentation.botocorex", BOTOCORE_CACHED),  # not the botocore prefix
    ],
)
def test_normalization_is_decided_by_scope_and_provider_never_by_the_numbers(
    provider, chat_config, user, collect, scope, attributes
):
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(scope, "chat m", attributes, 0, 50)
    assert tokens(values(collect())) == (5, 7, 12)


def test_botocore_and_traceloop_bedrock_sibling_streams_count_once_normalized(provider, chat_config, user, collect):
    # ConverseStream with both on: siblings under ai_run, botocore's interval inside Traceloop's,
    # no shared id, both cache-exclusive: once, 125 / 7 / 132, botocore's (innermost) facts.
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(TRACELOOP_BEDROCK, "chat claude", TRACELOOP_BEDROCK_CACHED, 0, 100)
        s.span(BOTOCORE, "chat anthropic.claude", BOTOCORE_CACHED, 3, 97)
    assert tokens(values(collect())) == (125, 7, 132)


def test_botocore_nested_in_openinference_bedrock_agrees_once_normalized(provider, chat_config, user, collect):
    s = Spans(provider)
    inclusive = {
        "openinference.span.kind": "LLM",
        "llm.provider": "aws",
        "llm.model_name": "anthropic.claude-3-5-haiku-20241022-v1:0",
        "llm.token_count.prompt": 125,
        "llm.token_count.completion": 7,
        "llm.token_count.total": 132,
        "llm.token_count.prompt_details.cache_read": 100,
        "llm.token_count.prompt_details.cache_write": 20,
    }
    with ai_run(chat_config, user, tracer_provider=provider):
        outer = provider.get_tracer(OPENINFERENCE_BEDROCK).start_span(
            "bedrock.converse", attributes=inclusive, start_time=s.base
        )
        s.span(BOTOCORE, "chat anthropic.claude", BOTOCORE_CACHED, 2, 48, parent=outer)
        outer.end(end_time=s.base + 50 * MS)
    assert tokens(values(collect())) == (125, 7, 132)


# --- Handoffs are not tool calls; Strands' time to first token ----------------------------


def test_handoffs_of_both_agents_instrumentations_are_not_tool_calls(
    provider, chat_config, user, collect, otlp, tmp_path
):
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(
            OPENINFERENCE_AGENTS,
            "handoff to weather_specialist",
            {"openinference.span.kind": "TOOL", "input.value": "triage_agent", "output.value": "weather_specialist"},
            0,
            1,
        )
        s.span(
            TRACELOOP_AGENTS,
            "triage_agent → unknown.handoff",
            {
                "traceloop.span.kind": "handoff",
                "gen_ai.operation.name": "handoff",
                "gen_ai.handoff.from_agent": "triage_agent",
                "gen_ai.agent.name": "triage_agent",
            },
            1,
            2,
        )
        s.span(
            OPENINFERENCE_AGENTS, "get_weather", {"openinference.span.kind": "TOOL", "tool.name": "get_weather"}, 3, 4
        )
        s.span(OPENINFERENCE_AGENTS, "response", openinference_llm(30, 12), 5, 9)
    events = collect()
    got = values(events)
    assert got["$ld:ai:tool_call"] == ["get_weather"]
    assert tokens(got) == (30, 12, 42)
    assert_inspect_predicts(otlp, events, tmp_path)


def test_handoff_spans_are_read_as_graph_edges(provider, exporter):
    tracer = provider.get_tracer(OPENINFERENCE_AGENTS)
    attributes = {
        "openinference.span.kind": "TOOL",
        "input.value": "triage_agent",
        "output.value": "weather_specialist",
    }
    tracer.start_span("handoff to weather_specialist", attributes=attributes).end()
    provider.get_tracer(TRACELOOP_AGENTS).start_span(
        "handoff", attributes={"traceloop.span.kind": "handoff", "gen_ai.handoff.from_agent": "triage_agent"}
    ).end()
    first, second = (Dialects().observe(span) for span in exporter.get_finished_spans())
    assert (first.kind, first.handoff_from, first.handoff_to, first.scope) == (
        HANDOFF,
        "triage_agent",
        "weather_specialist",
        OPENINFERENCE_AGENTS,
    )
    assert (second.kind, second.handoff_from, second.handoff_to) == (HANDOFF, "triage_agent", None)


def test_a_tool_literally_named_like_a_handoff_with_a_tool_name_is_a_tool(provider, chat_config, user, collect):
    s = Spans(provider)
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span(
            OPENINFERENCE_AGENTS, "handoff to x", {"openinference.span.kind": "TOOL", "tool.name": "handoff to x"}, 0, 1
        )
    assert values(collect())["$ld:ai:tool_call"] == ["handoff to x"]


def test_strands_time_to_first_token_in_milliseconds_is_read(provider, chat_config, user, collect):
    s = Spans(provider)
    strands = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "strands-agents",
        "gen_ai.request.model": "m",
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.server.time_to_first_token": 250,
    }
    with ai_run(chat_config, user, tracer_provider=provider):
        s.span("strands.telemetry.tracer", "chat", strands, 0, 400)
    got = values(collect())
    assert got["$ld:ai:tokens:ttf"] == 250 and tokens(got) == (11, 7, 18)


def test_agent_names_are_read_from_every_spelling(provider, exporter):
    tracer = provider.get_tracer("agents")
    for attributes in (
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"},
        {"openinference.span.kind": "AGENT", "agent.name": "a"},
        {"openinference.span.kind": "AGENT", "graph.node.id": "a"},
    ):
        tracer.start_span("agent", attributes=attributes).end()
    assert [Dialects().observe(span).agent_name for span in exporter.get_finished_spans()] == ["a", "a", "a"]
