"""Traceloop (OpenLLMetry) opentelemetry-instrumentation-bedrock 0.62.4 on ``boto3`` Converse.

One CLIENT span per call, scope ``opentelemetry.instrumentation.bedrock``,
``gen_ai.provider.name`` ``aws.bedrock``, and the model id WITHOUT its vendor
prefix (``claude-3-5-haiku-20241022-v1:0``). ``gen_ai.usage.input_tokens`` is
AWS's cache-exclusive ``inputTokens`` and ``gen_ai.usage.total_tokens`` is
input + output of those (12 for the caching case, where AWS says 132). Tool
calls from ``gen_ai.output.messages`` parts. No time to first token.
"""

from bedrock_cases import MODEL_ID, BedrockCases


class TestTraceloopBedrock(BedrockCases):
    model = MODEL_ID.split(".", 1)[1]
    provider = "aws.bedrock"
    scope = "opentelemetry.instrumentation.bedrock"
    response_tool_calls = True
