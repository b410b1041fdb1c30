"""Traceloop (OpenLLMetry) LangChain 0.62.4 alone: ``ChatOpenAI.chat`` spans, kind CLIENT, ``gen_ai.*``.

``gen_ai.operation.name`` chat, ``gen_ai.usage.input_tokens`` / ``output_tokens`` /
``total_tokens``, ``gen_ai.response.id``; no time to first token. The ReAct agent
is a ``workflow`` span (the graph), ``task`` spans per node and a ``tool`` span
``get_weather.tool`` (``traceloop.span.kind``).
"""

from langchain_cases import LangChainCases


class TestLangChainTraceloop(LangChainCases):
    ttft_source = None
    spans_per_call = 1
