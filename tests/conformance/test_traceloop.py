"""OpenLLMetry opentelemetry-instrumentation-openai 0.62.4: the newer OpenLLMetry dialect.

``gen_ai.*`` with ``gen_ai.usage.total_tokens``; time to first token from the
first ``gen_ai.content.completion.chunk`` span event; tool calls from
``gen_ai.output.messages``.
"""

from cases import EVENT, OpenAICases


class TestTraceloop(OpenAICases):
    ttft_source = (EVENT, "gen_ai.content.completion.chunk")
    response_tool_calls = True
