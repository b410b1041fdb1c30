"""OpenInference ``openinference-instrumentation-anthropic`` 3.1.0 alone (the SDK's own spans off).

One LLM span per call (``messages.create`` / ``messages.stream``, scope
``openinference.instrumentation.anthropic``): ``llm.token_count.prompt`` is cache-inclusive
(125 for 5 + 100 read + 20 written), with ``llm.token_count.prompt_details.cache_read`` /
``cache_write``; tool calls from
``llm.output_messages.0.message.tool_calls.0.tool_call.function.name``. No time to first
token (no ``First Token Stream Event`` on Anthropic streams): asserted absent. No response
id attribute (the id is only inside ``output.value``). Errors: status ERROR, no ``error.type``.
"""

from anthropic_cases import OPENINFERENCE_SCOPE, AnthropicCases


class TestOpenInferenceAnthropic(AnthropicCases):
    ttft_source = None
    response_tool_calls = True
    scopes = (OPENINFERENCE_SCOPE,)
