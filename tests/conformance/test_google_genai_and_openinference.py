"""Contrib google-genai and OpenInference google-genai on together: every call counted once.

They coexist: OpenInference wraps ``Models.generate_content`` outside contrib's
wrapper, so each call is an OpenInference LLM span with contrib's
``generate_content`` span as its child (same usage on both; only contrib's carries
``gen_ai.response.id`` and the stream's ``gen_ai.response.time_to_first_chunk``).
"""

from cases import ATTRIBUTE_S
from gemini_cases import ONE_CALL, TOOL, GeminiCases


class TestGoogleGenAIAndOpenInference(GeminiCases):
    provider = "gemini"
    ttft_source = (ATTRIBUTE_S, "gen_ai.response.time_to_first_chunk")
    response_tool_calls = True
    afc_tool_calls = (TOOL,)
    # A grounded call: OpenInference's span has 20/7/27 (toolUsePromptTokenCount included),
    # contrib's inner span 11/7 (it writes the tool-use prompt count nowhere). The spans of one
    # call disagree, so the innermost wins (docs/dialects.md, "No double counting"): 11/7/18, as contrib alone sends.
    # The 9 tool-use prompt tokens are lost with contrib on; docs/stacks.md says so.
    searched_tokens = ONE_CALL
