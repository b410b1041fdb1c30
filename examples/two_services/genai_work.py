"""The GenAI work a downstream service does: model calls and a tool, as OTel spans.

Written with the OpenTelemetry API only, following the GenAI semantic
conventions, so the zero-code service imports nothing from ldai-otel.
"""

from __future__ import annotations

from opentelemetry import trace

INPUT_TOKENS = (120, 80)
OUTPUT_TOKENS = (30, 25)
TOOL = "search_kb"


def answer_question(tracer: trace.Tracer) -> str:
    """Two chat calls around one tool call, like a small agent step."""
    for i in range(2):
        with tracer.start_as_current_span(
            "chat gpt-4o-mini",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": INPUT_TOKENS[i],
                "gen_ai.usage.output_tokens": OUTPUT_TOKENS[i],
            },
        ):
            pass
        if i == 0:
            with tracer.start_as_current_span(
                "execute_tool " + TOOL,
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": TOOL},
            ):
                pass
    return "answered"
