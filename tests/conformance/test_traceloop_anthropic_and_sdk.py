"""Traceloop anthropic 0.62.4 with the anthropic SDK's own spans on: two SIBLING spans per call.

Traceloop starts its ``anthropic.chat`` span without making it current, so the SDK's
``anthropic.messages.create`` span is its sibling (both children of the ``ai_run`` span), with
the same ``gen_ai.response.id``. On streams they disagree: Traceloop's output is 10
(``message_start``'s 3 added to the final 7), the SDK's 7; the SDK's span is the inner one (its
interval lies within Traceloop's) and the API's final count, 7, is the right one. Each call
counts once; time to first token from the SDK's span; tool calls from Traceloop's span.
"""

import anthropic_scenarios as scenarios
from anthropic_cases import SDK_SCOPE, TRACELOOP_SCOPE, AnthropicCases, model_spans
from anthropic_stub import MESSAGE_START_OUTPUT_TOKENS, OUTPUT_TOKENS
from cases import ATTRIBUTE_S


class TestTraceloopAnthropicAndSDK(AnthropicCases):
    ttft_source = (ATTRIBUTE_S, "gen_ai.response.time_to_first_chunk")
    response_tool_calls = True
    scopes = (TRACELOOP_SCOPE, SDK_SCOPE)

    def test_each_call_is_two_sibling_spans_with_one_response_id(self, stack):
        with stack.run() as run:
            scenarios.chat(self.stub)
            scenarios.stream(self.stub)
        stack.events(run)
        traceloop = model_spans(stack, run, TRACELOOP_SCOPE)
        sdk = model_spans(stack, run, SDK_SCOPE)
        assert len(traceloop) == len(sdk) == 2
        for tl, own in zip(traceloop, sdk, strict=True):
            assert tl.parent.span_id == own.parent.span_id  # siblings
            assert tl.attributes["gen_ai.response.id"] == own.attributes["gen_ai.response.id"]
            assert tl.start_time <= own.start_time and own.end_time <= tl.end_time  # the SDK's is inner
        assert traceloop[0].attributes["gen_ai.usage.output_tokens"] == sdk[0].attributes["gen_ai.usage.output_tokens"]
        # The stream: Traceloop adds message_start's placeholder to the final count.
        assert traceloop[1].attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS + MESSAGE_START_OUTPUT_TOKENS
        assert sdk[1].attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS
