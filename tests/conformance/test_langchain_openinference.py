"""OpenInference LangChain 0.1.80 alone: ``ChatOpenAI`` spans of kind LLM with ``llm.token_count.*``.

No response id attribute (the id is only inside ``output.value`` JSON); no time
to first token (no ``First Token Stream Event``, no attribute); errors are
status ERROR with an ``exception`` event and no ``error.type``. The ReAct agent
is an AGENT span (the graph, named after ``create_react_agent(name=...)``), an
AGENT span per ``agent`` node, CHAIN spans for ``call_model``, ``tools`` and
``should_continue``, and a TOOL span ``get_weather``.
"""

from langchain_cases import LangChainCases


class TestLangChainOpenInference(LangChainCases):
    ttft_source = None
    spans_per_call = 1
