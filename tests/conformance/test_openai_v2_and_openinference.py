"""openai-v2 and OpenInference both on: every call is seen by two instrumentations.

The openai-v2 span is the parent, the OpenInference span its child; both carry
usage. The call is counted once (tokens 11/7/18 per call, not twice), its time
to first token comes from the OpenInference span, its tool calls from the
OpenInference span (openai-v2 records no content by default).
"""

from cases import EVENT, OpenAICases


class TestOpenAIV2AndOpenInference(OpenAICases):
    ttft_source = (EVENT, "First Token Stream Event")
    response_tool_calls = True

    def test_each_call_really_has_two_spans_with_usage(self, stack):
        import scenarios

        with stack.run() as run:
            scenarios.chat(stack.stub)
        stack.events(run)
        spans = stack.spans(run)
        v2 = [s for s in spans if (s.attributes or {}).get("gen_ai.usage.input_tokens") == 11]
        oi = [s for s in spans if (s.attributes or {}).get("llm.token_count.prompt") == 11]
        assert len(v2) == 1 and len(oi) == 1
        assert oi[0].parent.span_id == v2[0].context.span_id
