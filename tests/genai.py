"""Spans that follow the OpenTelemetry GenAI conventions, written by hand for unit tests.

The conformance tests drive real instrumentations; these helpers keep the core
tests about the run model, not about any one instrumentation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Status, StatusCode

RUN_KEYS = [
    "$ld:ai:duration:total",
    "$ld:ai:generation:success",
    "$ld:ai:tokens:input",
    "$ld:ai:tokens:output",
    "$ld:ai:tokens:total",
    "$ld:ai:tool_call",
]
"""The event keys of a successful run with a model call and a tool call, sorted."""


def by_key(events: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for event in events:
        grouped.setdefault(event["key"], []).append(event)
    return grouped


def values(events: list[dict]) -> dict[str, Any]:
    """key -> metricValue for keys that occur once (asserts they do), tool calls as a list."""
    out: dict[str, Any] = {}
    for key, group in by_key(events).items():
        if key == "$ld:ai:tool_call":
            out[key] = [e["data"]["toolKey"] for e in group]
        else:
            assert len(group) == 1, "duplicate %s events: %r" % (key, group)
            out[key] = group[0]["metricValue"]
    return out


def chat(
    tracer,
    input_tokens: int | None = 10,
    output_tokens: int | None = 5,
    *,
    model: str = "gpt-test",
    error: bool = False,
    ttft_s: float | None = None,
    extra: dict | None = None,
    end: bool = True,
    context=None,
):
    """Starts (and by default ends) a chat span; returns the span."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
    }
    if input_tokens is not None:
        attributes["gen_ai.usage.input_tokens"] = input_tokens
    if output_tokens is not None:
        attributes["gen_ai.usage.output_tokens"] = output_tokens
    if ttft_s is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = ttft_s
    attributes.update(extra or {})
    span = tracer.start_span("chat " + model, attributes=attributes, context=context)
    if error:
        span.set_attribute("error.type", "openai.InternalServerError")
        span.set_status(Status(StatusCode.ERROR, "boom"))
    if end:
        span.end()
    return span


@contextmanager
def tool(tracer, name: str) -> Iterator[Any]:
    with tracer.start_as_current_span(
        "execute_tool " + name,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name},
    ) as span:
        yield span


GRAPH = "weather-graph"
"""The agent graph of the graph tests: a triage agent that hands off to a specialist."""


def add_weather_graph(test_data: Any) -> Any:
    """Adds the graph and its two agent configs to ``TestData`` flags; returns it."""
    from ldai_otel.testing import add_agent_graph, add_ai_config

    add_ai_config(test_data, "triage", variation_key="v-triage", version=4, model="gpt-4o-mini", provider="openai")
    add_ai_config(test_data, "specialist", variation_key="v-spec", version=5, model="gpt-4o", provider="openai")
    add_agent_graph(test_data, GRAPH, "triage", {"triage": ["specialist"]}, variation_key="v-graph", version=2)
    return test_data
