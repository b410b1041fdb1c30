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

    def test_react_agent_spans_are_agent_chain_llm_and_tool_kinds(self, stack, lc_stub):
        import json

        import langchain_scenarios

        with stack.run() as run:
            langchain_scenarios.agent_run(lc_stub)
        stack.events(run)
        spans = [
            s for s in stack.spans(run) if s.instrumentation_scope.name == "openinference.instrumentation.langchain"
        ]
        kinds = [(s.name, (s.attributes or {})["openinference.span.kind"]) for s in spans]
        step = [("agent", "AGENT"), ("call_model", "CHAIN"), ("RunnableSequence", "CHAIN"), ("Prompt", "CHAIN")]
        step += [("ChatOpenAI", "LLM"), ("should_continue", "CHAIN")]
        assert (
            kinds
            == [(langchain_scenarios.AGENT_NAME, "AGENT")]
            + step
            + [
                ("tools", "CHAIN"),
                ("get_weather", "TOOL"),
            ]
            + step
        )
        # LangGraph's node names are only in the `metadata` JSON, not in graph.node.* attributes.
        nodes = [json.loads((s.attributes or {}).get("metadata", "{}")).get("langgraph_node") for s in spans]
        assert nodes == [None] + ["agent"] * 6 + ["tools"] * 2 + ["agent"] * 6
        assert not any(k.startswith("graph.node") for s in spans for k in (s.attributes or {}))
