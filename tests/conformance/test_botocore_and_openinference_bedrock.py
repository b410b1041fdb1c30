"""contrib botocore 0.66b2 and OpenInference bedrock 0.1.61 on together: each call is two nested spans.

OpenInference's ``bedrock.converse[_stream]`` (INTERNAL) is the parent of
botocore's ``chat <model id>`` (CLIENT). For the caching call they disagree
until botocore's cache-exclusive input is normalized (OpenInference 125,
botocore 5 + 100 + 20). Each call must count once; tool calls from
OpenInference's ``llm.output_messages``. Where the two disagree the innermost span
wins (botocore's, closest to the HTTP call): provider ``aws.bedrock``, not ``aws``.
"""

import bedrock_stub
from bedrock_cases import BedrockCases, failing_call


class TestBotocoreAndOpenInferenceBedrock(BedrockCases):
    provider = "aws.bedrock"
    scope = "opentelemetry.instrumentation.botocore.bedrock-runtime"
    response_tool_calls = True

    def test_stream_http_500_is_an_error(self, stack):
        """OpenInference never ends its span of the failed stream; botocore's inner span (ERROR) says it failed."""
        with stack.run() as run:
            failing_call(self.bedrock, streamed=True)
        (span,) = self._model_spans(stack, run)
        assert not any(s.instrumentation_scope.name.startswith("openinference") for s in stack.spans(run))
        self._expect(stack, run, tokens=None, success=False, model=bedrock_stub.ERROR_MODEL)
