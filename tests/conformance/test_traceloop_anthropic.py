"""OpenLLMetry ``opentelemetry-instrumentation-anthropic`` 0.62.4 alone (the SDK's own spans off).

One ``anthropic.chat`` span per call (scope ``opentelemetry.instrumentation.anthropic``):
``gen_ai.usage.input_tokens`` cache-inclusive, ``gen_ai.usage.cache_read.input_tokens`` /
``cache_creation.input_tokens``, ``gen_ai.usage.total_tokens``, ``gen_ai.response.id``;
tool calls from ``gen_ai.output.messages`` parts of type ``tool_call``. No time to first
token on the span (asserted absent). Errors: status ERROR, ``error.type`` the exception's
class name (``InternalServerError``).

Known instrumentation bug: on a stream (``messages.create(stream=True)`` and
``messages.stream()``) it adds ``message_delta``'s cumulative ``output_tokens`` to
``message_start``'s placeholder (streaming.py), so the span says 7 + 3 = 10 where the API said 7.
"""

from anthropic_cases import TRACELOOP_SCOPE, AnthropicCases
from anthropic_stub import MESSAGE_START_OUTPUT_TOKENS


class TestTraceloopAnthropic(AnthropicCases):
    ttft_source = None
    response_tool_calls = True
    scopes = (TRACELOOP_SCOPE,)
    stream_output_overcount = MESSAGE_START_OUTPUT_TOKENS
    stream_helper_output_overcount = MESSAGE_START_OUTPUT_TOKENS
