"""OpenInference openinference-instrumentation-bedrock 0.1.61 on ``boto3`` Converse.

One INTERNAL LLM span per call (``bedrock.converse`` / ``bedrock.converse_stream``),
scope ``openinference.instrumentation.bedrock``, ``llm.provider`` ``aws``, the
full model id. ``llm.token_count.prompt`` already includes cached reads and
writes (also in ``llm.token_count.prompt_details.cache_read`` / ``cache_write``).
Tool calls from ``llm.output_messages.*.message.tool_calls.*``. No time to first
token; errors carry no ``error.type``.
"""

from bedrock_cases import BedrockCases, failing_call


class TestOpenInferenceBedrock(BedrockCases):
    provider = "aws"
    scope = "openinference.instrumentation.bedrock"
    response_tool_calls = True

    def test_stream_http_500_is_an_error(self, stack):
        """No source: 0.1.61 never ends the span of a sync ``converse_stream`` that fails.

        Its wrapper opens the span with ``end_on_exit=False`` and ends it only from the
        stream wrapper; when the call raises there is no stream, so the span (status
        ERROR, set on the live span) is never ended nor exported. No ended span says the
        call failed: the error event is absent and the run, which caught the error, is a
        success. The day OpenInference ends that span, this test fails and must expect
        the error.
        """
        from cases import ERROR

        with stack.run() as run:
            failing_call(self.bedrock, streamed=True)
        assert self._model_spans(stack, run) == []  # started, never ended
        got = self._expect(stack, run, tokens=None, success=True, model="", provider="")
        assert ERROR not in got
