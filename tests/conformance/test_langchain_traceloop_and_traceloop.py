"""Traceloop LangChain 0.62.4 with Traceloop openai 0.62.4: one span per call.

Traceloop LangChain sets ``SUPPRESS_LANGUAGE_MODEL_INSTRUMENTATION_KEY`` while its
LLM span is open and Traceloop openai honours it, so only ``ChatOpenAI.chat``
is written: nothing to deduplicate, 11 / 7 / 18 per call.
"""

from langchain_cases import LangChainCases


class TestLangChainTraceloopAndTraceloop(LangChainCases):
    ttft_source = None
    spans_per_call = 1

    def test_the_client_instrumentation_writes_no_span_under_langchain(self, stack, lc_stub):
        import langchain_scenarios
        import scenarios
        from langchain_cases import RUN_SCOPE

        with stack.run() as run:
            langchain_scenarios.chat(lc_stub)
            scenarios.chat(lc_stub)  # the bare openai client, outside LangChain: Traceloop openai's span
        stack.events(run)
        scopes = sorted(s.instrumentation_scope.name for s in stack.spans(run))
        scopes.remove(RUN_SCOPE)
        assert scopes == ["opentelemetry.instrumentation.langchain", "opentelemetry.instrumentation.openai.v1"]
