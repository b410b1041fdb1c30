"""OpenInference openinference-instrumentation-bedrock 0.1.61 on ``boto3`` Converse.

One INTERNAL LLM span per call (``bedrock.converse`` / ``bedrock.converse_stream``),
scope ``openinference.instrumentation.bedrock``, ``llm.provider`` ``aws``, the
full model id. ``llm.token_count.prompt`` already includes cached reads and
writes (also in ``llm.token_count.prompt_details.cache_read`` / ``cache_write``).
Tool calls from ``llm.output_messages.*.message.tool_calls.*``. No time to first
token; errors carry no ``error.type``.
"""

from bedrock_cases import BedrockCases


class TestOpenInferenceBedrock(BedrockCases):
    provider = "aws"
    scope = "openinference.instrumentation.bedrock"
    response_tool_calls = True
