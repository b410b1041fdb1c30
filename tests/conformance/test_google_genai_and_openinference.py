"""Contrib google-genai and OpenInference google-genai on together: every call counted once.

They coexist: OpenInference wraps ``Models.generate_content`` outside contrib's
wrapper, so each call is an OpenInference LLM span with contrib's
``generate_content`` span as its child (same usage on both; only contrib's carries
``gen_ai.response.id`` and the stream's ``gen_ai.response.time_to_first_chunk``).
"""

from cases import ATTRIBUTE_S
from gemini_cases import TOOL, GeminiCases


class TestGoogleGenAIAndOpenInference(GeminiCases):
    provider = "gemini"
    ttft_source = (ATTRIBUTE_S, "gen_ai.response.time_to_first_chunk")
    response_tool_calls = True
    afc_tool_calls = (TOOL,)
