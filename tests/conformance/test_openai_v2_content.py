"""openai-v2 2.4b0 + util-genai 1.1b0 with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only``.

With content capture on, ``gen_ai.output.messages`` holds the response, tool
call parts included: tool calls are then read from model responses.
"""

from cases import OpenAICases


class TestOpenAIV2WithContent(OpenAICases):
    ttft_source = None
    response_tool_calls = True
