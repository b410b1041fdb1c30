"""Strands on ``GeminiModel`` with contrib google-genai 1.3b0 also on: each model call once.

Each Strands ``chat`` span has contrib's ``generate_content <model>`` span as its
child (same usage; only contrib's carries ``gen_ai.response.id``,
``gen_ai.provider.name`` ``gemini`` and ``gen_ai.response.time_to_first_chunk``).
The inner span wins: provider ``gemini``, contrib's time to first token.
"""

from cases import ATTRIBUTE_S
from strands_cases import StrandsGeminiCases


class TestStrandsGeminiAndGoogleGenAI(StrandsGeminiCases):
    provider = "gemini"
    ttft_source = (ATTRIBUTE_S, "gen_ai.response.time_to_first_chunk")
