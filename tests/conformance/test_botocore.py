"""contrib opentelemetry-instrumentation-botocore 0.66b2 (its Bedrock extension) on ``boto3`` Converse.

One CLIENT span per call, scope ``opentelemetry.instrumentation.botocore.bedrock-runtime``,
``gen_ai.system`` ``aws.bedrock``, the full model id, ``aws.request_id``.
``gen_ai.usage.input_tokens`` is AWS's ``inputTokens``, which EXCLUDES cached
tokens; the cache counts are in ``gen_ai.usage.cache_read.input_tokens`` and
``gen_ai.usage.cache_creation.input_tokens``. Tool calls and message content go
to log records (Logs API), not to the span: no span source for tool calls. No
time to first token.
"""

from bedrock_cases import BedrockCases, chat


class TestBotocore(BedrockCases):
    provider = "aws.bedrock"
    scope = "opentelemetry.instrumentation.botocore.bedrock-runtime"
    response_tool_calls = False

    def test_span_carries_the_request_id(self, stack):
        """``aws.request_id`` is the x-amzn-RequestId of its call: the one per-call id Converse has."""
        with stack.run() as run:
            chat(self.bedrock)
            chat(self.bedrock)
        ids = [s.attributes["aws.request_id"] for s in self._model_spans(stack, run)]
        assert ids == self.bedrock.request_ids[-2:] and len(set(ids)) == 2
