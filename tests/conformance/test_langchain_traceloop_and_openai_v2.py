"""Traceloop LangChain 0.62.4 with contrib openai-v2 2.4b0: two sibling ``chat`` spans per call.

openai-v2 ignores Traceloop's suppression key. Both spans are children of the
``ai_run`` span, kind CLIENT, with the same ``gen_ai.response.id`` and
``gen_ai.usage.*`` on invoke; on a stream the LangChain span has no response id (the
client span has it). No time to first token. Each call counts once: 11 / 7 / 18.
"""

from langchain_cases import LangChainCases, TwoSpansPerCall


class TestLangChainTraceloopAndOpenAIV2(TwoSpansPerCall, LangChainCases):
    ttft_source = None
    spans_per_call = 2
    langchain_scope = "opentelemetry.instrumentation.langchain"
    client_scope = "opentelemetry.util.genai.handler"
    response_id_attributes = {
        "chat": ("gen_ai.response.id", "gen_ai.response.id"),
        "stream": (None, "gen_ai.response.id"),  # Traceloop LangChain writes no id for a stream
    }
