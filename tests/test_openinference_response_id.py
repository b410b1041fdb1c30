"""OpenInference's response id, read from ``output.value`` (it writes no attribute for it).

The JSON shapes are those OpenInference openai 0.1.66 and OpenInference LangChain
0.1.80 write for a ``ChatOpenAI`` call (see tests/conformance/test_langchain_*.py):
two concurrent calls seen by both are told apart by these ids.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ldai_otel.dialects.reader import Dialects
from ldai_otel.model.observation import MODEL, Observation

ID = "chatcmpl-0a090eae71f84422a78d6253"
CLIENT_OUTPUT = {"id": ID, "object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 11}}
LANGCHAIN_OUTPUT = {
    "generations": [[{"text": "Hi", "message": {"id": ["langchain", "schema", "messages", "AIMessage"]}}]],
    "llm_output": {"token_usage": {"prompt_tokens": 11}, "model_name": "gpt-4o-mini", "id": ID},
    "run": None,
    "type": "LLMResult",
}


@pytest.fixture
def observe():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("openinference-ids")

    def make(attributes: dict) -> Observation | None:
        tracer.start_span("ChatOpenAI", attributes=attributes).end()
        return Dialects().observe(exporter.get_finished_spans()[-1])

    yield make
    provider.shutdown()


def llm(output: object, mime: str = "application/json", **extra: object) -> dict:
    raw = output if isinstance(output, str) else json.dumps(output)
    return {"openinference.span.kind": "LLM", "output.value": raw, "output.mime_type": mime, **extra}


def test_the_openai_instrumentations_output_value_gives_the_response_id(observe):
    obs = observe(llm(CLIENT_OUTPUT))
    assert obs is not None and obs.kind == MODEL
    assert obs.response_id == ID


def test_the_langchain_instrumentations_llm_output_gives_the_response_id(observe):
    assert observe(llm(LANGCHAIN_OUTPUT)).response_id == ID


def test_an_attribute_wins_over_output_value(observe):
    obs = observe(llm(CLIENT_OUTPUT, **{"gen_ai.response.id": "chatcmpl-attribute"}))
    assert obs.response_id == "chatcmpl-attribute"


@pytest.mark.parametrize(
    "attributes",
    [
        # A LangChain stream: LLMResult without llm_output.
        llm(dict(LANGCHAIN_OUTPUT, llm_output=None)),
        # Other JSON whose "id" is not a response id: no OpenAI "object", not an LLMResult.
        llm({"id": "lc_run--1", "type": "AIMessage"}),
        llm({"id": ["langchain", "schema"], "object": "chat.completion"}),
        llm({"id": 7, "object": "chat.completion"}),
        llm({"id": "", "object": "chat.completion"}),
        llm({"id": "x" * 2000, "object": "chat.completion"}),
        llm({"llm_output": {"id": ID}, "type": "LLMResult"}, mime="text/plain"),
        llm('{"id": "chatcmpl-1", "object": "chat.completion"'),  # truncated JSON
        llm("[" * 40 + "]" * 40),  # no "id" in it: not parsed at all
        llm(json.dumps([{"id": ID, "object": "chat.completion"}])),  # a list, not an object
        {"openinference.span.kind": "LLM", "output.value": 42, "output.mime_type": "application/json"},
    ],
)
def test_no_response_id_from_anything_else(observe, attributes):
    obs = observe(attributes)
    assert obs is not None and obs.kind == MODEL
    assert obs.response_id is None


def test_other_dialects_do_not_read_output_value(observe):
    attributes = {"gen_ai.operation.name": "chat", "output.value": json.dumps(CLIENT_OUTPUT)}
    obs = observe(dict(attributes, **{"output.mime_type": "application/json"}))
    assert obs is not None and obs.response_id is None
