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

    def test_react_agent_spans_are_workflow_task_and_tool_kinds(self, stack, lc_stub):
        import langchain_scenarios

        with stack.run() as run:
            langchain_scenarios.agent_run(lc_stub)
        stack.events(run)
        spans = [
            s for s in stack.spans(run) if s.instrumentation_scope.name == "opentelemetry.instrumentation.langchain"
        ]
        shape = [
            (s.name, (s.attributes or {}).get("gen_ai.operation.name"), (s.attributes or {}).get("traceloop.span.kind"))
            for s in spans
        ]
        name = langchain_scenarios.AGENT_NAME
        step = [
            ("execute_task agent", "execute_task", "task"),
            ("execute_task call_model", "execute_task", "task"),
            ("execute_task RunnableSequence", "execute_task", "task"),
            ("execute_task Prompt", "execute_task", "task"),
            ("ChatOpenAI.chat", "chat", None),
            ("execute_task should_continue", "execute_task", "task"),
        ]
        # Two invoke_agent spans per run (LangGraph wrapper and workflow), after one create_agent at compile time.
        assert (
            shape
            == [
                ("create_agent " + name, "create_agent", None),
                ("invoke_agent " + name, "invoke_agent", None),
                (name + ".workflow", "invoke_agent", "workflow"),
            ]
            + step
            + [("execute_task tools", "execute_task", "task"), ("execute_tool get_weather", "execute_tool", "tool")]
            + step
        )
