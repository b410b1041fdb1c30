"""OpenTelemetry contrib openai-v2 2.4b0 with opentelemetry-util-genai 1.1b0: the current conventions.

Writes ``gen_ai.usage.input_tokens`` / ``output_tokens`` (no total), and no
time to first token anywhere (no attribute, event or metric). Message content
is off by default, so the tool calls a model asks for are not recorded.
"""

from cases import OpenAICases


class TestOpenAIV2(OpenAICases):
    ttft_source = None
    response_tool_calls = False
