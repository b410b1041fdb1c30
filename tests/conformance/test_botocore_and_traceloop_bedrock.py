"""contrib botocore 0.66b2 and Traceloop bedrock 0.62.4 on together: each call is two spans.

``converse``: Traceloop's ``chat claude-...`` span is the parent of botocore's
``chat anthropic.claude-...``; ``converse_stream``: the two are siblings under
the run span, botocore's interval inside Traceloop's. Both write AWS's
cache-exclusive input. Each call must count once, with the cache counts added
back; tool calls from Traceloop's ``gen_ai.output.messages``. Where the two
disagree the innermost span wins (botocore's, closest to the HTTP call): model
and provider names are botocore's full model id and ``aws.bedrock``.
"""

from bedrock_cases import BedrockCases


class TestBotocoreAndTraceloopBedrock(BedrockCases):
    provider = "aws.bedrock"
    scope = "opentelemetry.instrumentation.botocore.bedrock-runtime"
    response_tool_calls = True
