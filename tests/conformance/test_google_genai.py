"""Contrib ``opentelemetry-instrumentation-google-genai`` 1.3b0 (util-genai 1.3b0) on google-genai 2.34.0.

One ``generate_content <model>`` span per call, ``gen_ai.provider.name`` ``gemini``,
``gen_ai.response.id`` = Gemini's ``responseId``. ``gen_ai.usage.input_tokens`` is
``promptTokenCount`` (cached content included, also written as
``gen_ai.usage.cache_read.input_tokens``); ``gen_ai.usage.output_tokens`` is
candidates + thoughts (``gen_ai.usage.reasoning.output_tokens`` = thoughts). Streams
carry ``gen_ai.response.time_to_first_chunk`` (s). Without content capture the
function calls of responses are not recorded; automatic function calling writes an
``execute_tool <name>`` span under the call's span. Errors: status ERROR,
``error.type`` = the HTTP status code (``"500"``).
"""

from cases import ATTRIBUTE_S
from gemini_cases import ONE_CALL, TOOL, GeminiCases


class TestGoogleGenAI(GeminiCases):
    provider = "gemini"
    ttft_source = (ATTRIBUTE_S, "gen_ai.response.time_to_first_chunk")
    response_tool_calls = False
    afc_tool_calls = (TOOL,)
    # gen_ai.usage.input_tokens is promptTokenCount alone: toolUsePromptTokenCount is
    # written nowhere, so a grounded call's 9 tool-use prompt tokens have no source.
    searched_tokens = ONE_CALL
