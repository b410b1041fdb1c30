"""openai-v2 2.4b0 with opentelemetry-util-genai 0.4b0: the deprecated conventions.

``gen_ai.system`` instead of ``gen_ai.provider.name``; message content goes to
log records, not span attributes, so tool calls in responses are not on spans.
"""

from cases import OpenAICases


class TestOpenAIV2Legacy(OpenAICases):
    ttft_source = None
    response_tool_calls = False

    def test_spans_use_the_deprecated_provider_key(self, stack):
        import scenarios

        with stack.run() as run:
            scenarios.chat(stack.stub)
        stack.events(run)
        chat = [s for s in stack.spans(run) if (s.attributes or {}).get("gen_ai.operation.name") == "chat"]
        assert chat and chat[0].attributes["gen_ai.system"] == "openai"
        assert "gen_ai.provider.name" not in chat[0].attributes
