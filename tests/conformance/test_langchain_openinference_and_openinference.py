"""OpenInference LangChain 0.1.80 with OpenInference openai 0.1.66: two LLM spans per call.

The LangChain ``ChatOpenAI`` span and the client ``ChatCompletion`` span are both
children of the ``ai_run`` span: OpenInference LangChain does not make its spans
current, so the client span never nests under it (in the ReAct agent the client
span hangs off ``ai_run`` while the LangChain span is deep in the graph). Neither
has a response id attribute (only ``output.value`` JSON holds it); both carry
``llm.token_count.*``. Time to first token from the client span's
``First Token Stream Event``. Each call counts once: 11 / 7 / 18.
"""

from cases import EVENT
from langchain_cases import LangChainCases, TwoSpansPerCall


class TestLangChainOpenInferenceAndOpenInference(TwoSpansPerCall, LangChainCases):
    ttft_source = (EVENT, "First Token Stream Event")
    spans_per_call = 2
    langchain_scope = "openinference.instrumentation.langchain"
    client_scope = "openinference.instrumentation.openai"
    response_id_attributes = {"chat": (None, None), "stream": (None, None)}
