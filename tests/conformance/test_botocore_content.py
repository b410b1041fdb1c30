"""contrib botocore 0.66b2 with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.

Turning message content on changes the extension's log records (``gen_ai.choice``
with the tool calls), not its spans: still no span source for tool calls, and
the same cache-exclusive input as without it.
"""

from bedrock_cases import BedrockCases


class TestBotocoreContent(BedrockCases):
    provider = "aws.bedrock"
    scope = "opentelemetry.instrumentation.botocore.bedrock-runtime"
    response_tool_calls = False

    def test_content_capture_puts_nothing_on_the_span(self, stack):
        import os

        from bedrock_cases import tool_round_trip

        assert os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] == "true"
        with stack.run() as run:
            tool_round_trip(self.bedrock)
        for span in self._model_spans(stack, run):
            assert not [key for key in span.attributes if "message" in key or "tool" in key], span.attributes
