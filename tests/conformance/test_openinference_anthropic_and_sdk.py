"""OpenInference anthropic 3.1.0 with the anthropic SDK's own spans on: two spans per call.

``messages.create``: the SDK's ``anthropic.messages.create`` span is a CHILD of OpenInference's
``messages.create`` LLM span. ``messages.stream()``: OpenInference's ``messages.stream`` span
is not current while the SDK sends the request, so the SDK's span is its SIBLING (both children
of the ``ai_run`` span). Both carry the same usage; only the SDK's span has
``gen_ai.response.id`` and time to first token. Each call counts once; time to first token
from the SDK's span; tool calls from OpenInference's span.
"""

import anthropic_scenarios as scenarios
from anthropic_cases import OPENINFERENCE_SCOPE, SDK_SCOPE, AnthropicCases, model_spans
from cases import ATTRIBUTE_S


class TestOpenInferenceAnthropicAndSDK(AnthropicCases):
    ttft_source = (ATTRIBUTE_S, "gen_ai.response.time_to_first_chunk")
    response_tool_calls = True
    scopes = (OPENINFERENCE_SCOPE, SDK_SCOPE)

    def test_create_is_nested_and_stream_helper_is_siblings(self, stack):
        with stack.run() as run:
            scenarios.chat(self.stub)
            scenarios.stream_helper(self.stub)
        stack.events(run)
        (oi_chat, oi_stream) = model_spans(stack, run, OPENINFERENCE_SCOPE)
        (sdk_chat, sdk_stream) = model_spans(stack, run, SDK_SCOPE)
        assert (oi_chat.name, oi_stream.name) == ("messages.create", "messages.stream")
        assert sdk_chat.parent.span_id == oi_chat.context.span_id  # nested
        assert sdk_stream.parent.span_id == oi_stream.parent.span_id  # siblings under the run span
        for oi, sdk in ((oi_chat, sdk_chat), (oi_stream, sdk_stream)):
            assert oi.attributes["llm.token_count.prompt"] == sdk.attributes["gen_ai.usage.input_tokens"] == 11
            assert oi.attributes["llm.token_count.completion"] == sdk.attributes["gen_ai.usage.output_tokens"] == 7
            assert "gen_ai.response.id" not in oi.attributes and sdk.attributes["gen_ai.response.id"]
