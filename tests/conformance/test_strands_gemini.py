"""Strands Agents 1.62.0 built-in spans on its Gemini model provider (google-genai 2.34.0).

Same span tree as on OpenAI (``invoke_agent`` > ``execute_event_loop_cycle`` >
``chat`` / ``execute_tool``), ``gen_ai.system`` ``strands-agents``. ``chat`` spans
carry Gemini's usage as Strands maps it (input = prompt + toolUsePrompt,
output = candidates + thoughts, no reasoning attribute) and
``gen_ai.server.time_to_first_token`` (ms), measured from before Strands makes
its ``genai.Client``: several times the HTTP time to first chunk.
"""

from cases import ATTRIBUTE_MS
from strands_cases import StrandsGeminiCases


class TestStrandsGemini(StrandsGeminiCases):
    provider = "strands-agents"
    ttft_source = (ATTRIBUTE_MS, "gen_ai.server.time_to_first_token")
