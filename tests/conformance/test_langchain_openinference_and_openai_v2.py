"""OpenInference LangChain 0.1.80 with contrib openai-v2 2.4b0: an LLM span and a ``chat`` span per call.

Both are children of the ``ai_run`` span. The client span (scope
``opentelemetry.util.genai.handler``, kind CLIENT) has ``gen_ai.response.id``; the
LangChain span has none, so only interval containment ties them. No time to first
token on either. Each call counts once: 11 / 7 / 18.
"""

from langchain_cases import LangChainCases, TwoSpansPerCall


class TestLangChainOpenInferenceAndOpenAIV2(TwoSpansPerCall, LangChainCases):
    ttft_source = None
    spans_per_call = 2
    langchain_scope = "openinference.instrumentation.langchain"
    client_scope = "opentelemetry.util.genai.handler"
    response_id_attributes = {"chat": (None, "gen_ai.response.id"), "stream": (None, "gen_ai.response.id")}
