"""The pair a judge evaluates, read from model-call spans in each dialect's shape.

Spans are written by hand in the shapes the instrumentations write (OTel GenAI
JSON messages, OpenInference flattened messages and values, Traceloop 0.52
indexed prompts), ended on a real TracerProvider; then one judged run per
dialect goes through the processor and ldai's real judge to the sink.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from judge_stub import OpenAIStub
from ldai.models import AICompletionConfigDefault
from ldclient.integrations.test_data import TestData
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ldai_otel import ai_run
from ldai_otel.dialects.content import read_exchange
from ldai_otel.model.values import MAX_JSON_DEPTH
from ldai_otel.testing import add_ai_config, add_judge_config, flush_events

QUESTION = "What is the capital of France?"
ANSWER = "Paris."


def _genai(messages_in, messages_out) -> dict:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": json.dumps(messages_in),
        "gen_ai.output.messages": json.dumps(messages_out),
    }


def _text(role, text) -> dict:
    return {"role": role, "parts": [{"type": "text", "content": text}]}


OTEL_GENAI = _genai(
    [_text("system", "Be brief."), _text("user", QUESTION)],
    [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}],
)
OPENINFERENCE = {
    "openinference.span.kind": "LLM",
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": QUESTION,
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": ANSWER,
    "input.value": json.dumps({"messages": [{"role": "user", "content": QUESTION}]}),
    "input.mime_type": "application/json",
}
OPENINFERENCE_VALUES = {
    "openinference.span.kind": "LLM",
    "input.value": QUESTION,
    "input.mime_type": "text/plain",
    "output.value": ANSWER,
}
TRACELOOP = {
    "llm.request.type": "chat",
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "Be brief.",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": QUESTION,
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": ANSWER,
}


@pytest.fixture
def spans() -> Iterator:
    """``make(*attribute_dicts)``: ended spans with those attributes, in order."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")

    def make(*attribute_sets):
        exporter.clear()
        for attributes in attribute_sets:
            tracer.start_span("span", attributes=attributes).end()
        return exporter.get_finished_spans()

    yield make
    provider.shutdown()


@pytest.mark.parametrize("attributes", [OTEL_GENAI, OPENINFERENCE, OPENINFERENCE_VALUES, TRACELOOP])
def test_each_dialect_gives_the_user_prompt_and_the_answer(spans, attributes):
    report = read_exchange(spans(attributes), max_chars=10_000)
    assert report.exchange is not None, report.reason
    assert (report.exchange.input, report.exchange.output) == (QUESTION, ANSWER)


def test_the_older_content_span_events_are_read():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("tests").start_span("chat", attributes={"gen_ai.operation.name": "chat"})
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]
    span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(prompt)})
    span.add_event(
        "gen_ai.content.completion", {"gen_ai.completion": json.dumps([{"role": "assistant", "content": ANSWER}])}
    )
    span.end()
    report = read_exchange(exporter.get_finished_spans(), max_chars=10_000)
    provider.shutdown()
    assert report.exchange is not None
    assert (report.exchange.input, report.exchange.output) == (QUESTION, ANSWER)


def test_openinference_parts_are_read_when_content_is_split(spans):
    attributes = {
        "openinference.span.kind": "LLM",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "text",
        "llm.input_messages.0.message.contents.0.message_content.text": "What is",
        "llm.input_messages.0.message.contents.1.message_content.text": "the capital?",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": ANSWER,
    }
    report = read_exchange(spans(attributes), max_chars=10_000)
    assert report.exchange is not None
    assert report.exchange.input == "What is\nthe capital?"


def test_a_tool_loop_is_judged_on_its_last_call_with_the_whole_history(spans):
    first = _genai(
        [_text("system", "Use tools."), _text("user", QUESTION)],
        [{"role": "assistant", "parts": [{"type": "tool_call", "name": "lookup", "id": "c1"}]}],
    )
    tool_span = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}
    last = _genai(
        [
            _text("system", "Use tools."),
            _text("user", QUESTION),
            {"role": "assistant", "parts": [{"type": "tool_call", "name": "lookup", "id": "c1"}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "Paris"}]},
            _text("tool", "capital: Paris"),
        ],
        [_text("assistant", ANSWER)],
    )
    report = read_exchange(spans(first, tool_span, last), max_chars=10_000)
    assert report.exchange is not None
    assert report.exchange.input == "user: %s\ntool: capital: Paris" % QUESTION
    assert report.exchange.output == ANSWER
    assert report.model_calls == 2


def test_redacted_content_is_never_judged(spans):
    hidden = dict(OPENINFERENCE, **{"llm.input_messages.1.message.content": "__REDACTED__"})
    report = read_exchange(spans(hidden), max_chars=10_000)
    assert report.exchange is None
    assert report.reason == "content is redacted"
    values = dict(OPENINFERENCE_VALUES, **{"output.value": "__REDACTED__"})
    assert read_exchange(spans(values), max_chars=10_000).exchange is None


def test_a_body_as_json_value_is_not_the_text(spans):
    body = {
        "openinference.span.kind": "LLM",
        "input.value": json.dumps({"messages": [{"role": "user", "content": QUESTION}]}),
        "input.mime_type": "application/json",
        "output.value": ANSWER,
    }
    assert read_exchange(spans(body), max_chars=10_000).exchange is None


def test_bounds_size_and_depth(spans):
    report = read_exchange(spans(OTEL_GENAI), max_chars=len(QUESTION) - 1)
    assert report.exchange is None
    assert "longer than" in report.reason
    deep: object = QUESTION
    for _ in range(MAX_JSON_DEPTH + 1):
        deep = [deep]
    too_deep = dict(OTEL_GENAI, **{"gen_ai.input.messages": json.dumps(deep)})
    assert read_exchange(spans(too_deep), max_chars=10_000).exchange is None


def test_no_content_says_why(spans):
    bare = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3}
    report = read_exchange(spans(bare), max_chars=10_000)
    assert report.exchange is None
    assert "content capture is off" in report.reason
    assert read_exchange(spans({"http.method": "GET"}), max_chars=10_000).reason == "no model-call span in the run"


def test_junk_values_give_no_pair_and_no_exception(spans):
    junk = {
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": "not json",
        "gen_ai.output.messages": json.dumps({"role": "assistant"}),
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": 42,
    }
    assert read_exchange(spans(junk), max_chars=10_000).exchange is None


# --- Each dialect's span in a judged run, through the processor and ldai's judge. ---


@pytest.fixture
def test_data() -> TestData:
    td = TestData.data_source()
    add_ai_config(td, "judged-chat", variation_key="v-judged", version=3, judges={"relevance-judge": 1.0})
    add_judge_config(td, "relevance-judge", "$ld:ai:judge:relevance")
    return td


@pytest.mark.parametrize(
    "attributes", [OTEL_GENAI, OPENINFERENCE, TRACELOOP], ids=["otel", "openinference", "traceloop"]
)
def test_a_judged_run_reads_each_dialect(monkeypatch, attributes, make_provider, ai_client, user, ld_client, sink):
    with OpenAIStub() as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        provider, processor = make_provider()
        config = ai_client.completion_config("judged-chat", user, AICompletionConfigDefault(enabled=False))
        with ai_run(config, user, tracer_provider=provider) as run:
            provider.get_tracer("tests").start_span("chat", attributes=attributes).end()
        flush_events(ld_client, sink, processor)
        [request] = stub.judge_requests()
    assert request["messages"][-1]["content"] == "MESSAGE HISTORY:\n%s\n\nRESPONSE TO EVALUATE:\n%s" % (
        QUESTION,
        ANSWER,
    )
    [event] = [e for e in sink.events() if e.get("key") == "$ld:ai:judge:relevance"]
    assert event["data"]["runId"] == run.run_id
    assert event["metricValue"] == 0.8


def test_inspect_says_which_judges_run_and_what_content_it_found(
    monkeypatch, tmp_path, make_provider, ai_client, user, ld_client, sink
):
    from otlp_json import FileSpanExporter
    from test_inspect import inspect_cli

    with OpenAIStub() as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        path = tmp_path / "spans.jsonl"
        with open(path, "w") as stream:
            provider, processor = make_provider()
            provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
            config = ai_client.completion_config("judged-chat", user, AICompletionConfigDefault(enabled=False))
            tracer = provider.get_tracer("tests")
            with ai_run(config, user, tracer_provider=provider) as with_content:
                tracer.start_span("chat", attributes=OTEL_GENAI).end()
            with ai_run(config, user, tracer_provider=provider) as without_content:
                tracer.start_span("chat", attributes={"gen_ai.operation.name": "chat"}).end()
            flush_events(ld_client, sink, processor)
            provider.force_flush()
    result = inspect_cli(str(path))
    assert result.returncode == 0, result.stderr
    runs = result.stdout.split("  run ")
    [judged] = [r for r in runs if r.startswith(with_content.run_id)]
    [bare] = [r for r in runs if r.startswith(without_content.run_id)]
    assert "    judges: relevance-judge (the processor runs them; serve does not)" in judged
    assert "judged text: input %d chars, output %d chars" % (len(QUESTION), len(ANSWER)) in judged
    assert "judged text: none, no message content on the model-call spans" in bare
    assert QUESTION not in result.stdout and ANSWER not in result.stdout  # lengths, never content
