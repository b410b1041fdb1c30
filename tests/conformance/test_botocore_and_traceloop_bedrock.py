"""contrib botocore 0.66b2 and Traceloop bedrock 0.62.4 on together: each call is two spans.

``converse``: Traceloop's ``chat claude-...`` span is the parent of botocore's
``chat anthropic.claude-...``; ``converse_stream``: the two are siblings under
the run span, botocore's interval inside Traceloop's. Both write AWS's
cache-exclusive input. Each call must count once, with the cache counts added
back; tool calls from Traceloop's ``gen_ai.output.messages``. Model and
provider names from the first model-call span (Traceloop's, which starts first).
"""

from bedrock_cases import MODEL_ID, BedrockCases


class TestBotocoreAndTraceloopBedrock(BedrockCases):
    model = MODEL_ID.split(".", 1)[1]
    provider = "aws.bedrock"
    scope = "opentelemetry.instrumentation.botocore.bedrock-runtime"
    response_tool_calls = True
