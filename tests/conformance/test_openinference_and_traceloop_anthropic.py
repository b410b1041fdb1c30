"""OpenInference and Traceloop anthropic both on (the SDK's own spans off): two SIBLING spans per call.

Both wrap ``Messages.create`` / ``Messages.stream`` with wrapt; Traceloop, instrumented second,
is the outer wrapper, and does not make its span current, so OpenInference's LLM span is its
sibling (both children of the ``ai_run`` span) and lies within it. No response id is shared
(OpenInference writes none). On streams they disagree on output: Traceloop 10
(``message_start``'s 3 added), OpenInference 7 (the API's): the inner span is right. Each call
counts once; no time to first token (neither writes one); tool calls from either.
"""

import anthropic_scenarios as scenarios
from anthropic_cases import OPENINFERENCE_SCOPE, TRACELOOP_SCOPE, AnthropicCases, model_spans
from anthropic_stub import MESSAGE_START_OUTPUT_TOKENS, OUTPUT_TOKENS


class TestOpenInferenceAndTraceloopAnthropic(AnthropicCases):
    ttft_source = None
    response_tool_calls = True
    scopes = (OPENINFERENCE_SCOPE, TRACELOOP_SCOPE)
    # On create(stream=True) OpenInference's span has no usage (its wrapper never sees the
    # events Traceloop's wrapper pulls), so Traceloop's wrong count is the only one.
    stream_output_overcount = MESSAGE_START_OUTPUT_TOKENS

    def test_each_call_is_two_sibling_spans_the_openinference_one_inside(self, stack):
        with stack.run() as run:
            scenarios.chat(self.stub)
            scenarios.stream_helper(self.stub)
        stack.events(run)
        openinference = model_spans(stack, run, OPENINFERENCE_SCOPE)
        traceloop = model_spans(stack, run, TRACELOOP_SCOPE)
        assert len(openinference) == len(traceloop) == 2
        for oi, tl in zip(openinference, traceloop, strict=True):
            assert oi.parent.span_id == tl.parent.span_id  # siblings
            assert tl.start_time <= oi.start_time and oi.end_time <= tl.end_time
            assert "gen_ai.response.id" not in oi.attributes and tl.attributes["gen_ai.response.id"]
        assert openinference[1].attributes["llm.token_count.completion"] == OUTPUT_TOKENS
        assert traceloop[1].attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS + MESSAGE_START_OUTPUT_TOKENS
