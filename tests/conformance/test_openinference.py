"""OpenInference openai 0.1.66: ``llm.token_count.*``, ``llm.model_name``, ``llm.system``.

Time to first token from the ``First Token Stream Event`` span event; tool calls
from ``llm.output_messages.<i>.message.tool_calls.<j>.tool_call.function.name``.
Errors carry no ``error.type``: status ERROR is what says so.
"""

from cases import EVENT, TOOL_CALL, TWO_CALLS, OpenAICases, expect


class TestOpenInference(OpenAICases):
    ttft_source = (EVENT, "First Token Stream Event")
    response_tool_calls = True

    def test_chain_agent_and_tool_spans_from_openinference_decorators(self, stack):
        """OpenInference's own CHAIN / AGENT / TOOL spans (``OITracer`` decorators) around real calls."""
        import scenarios
        from openinference.instrumentation import OITracer, TraceConfig
        from opentelemetry import trace

        tracer = OITracer(trace.get_tracer("app"), TraceConfig())

        @tracer.tool(name=scenarios.TOOL)
        def get_weather(arguments: str) -> str:
            return '{"temp_c": 21}'

        @tracer.agent
        def weather_agent() -> str:
            return scenarios.tool_round_trip(stack.stub, run_tool=get_weather)

        @tracer.chain
        def pipeline() -> str:
            return weather_agent()

        with stack.run() as run:
            assert pipeline()
        got = expect(
            stack.events(run),
            run,
            tokens=TWO_CALLS,
            success=True,
            model=scenarios.MODEL,
            tool_calls=(scenarios.TOOL,),  # the TOOL span; the response's request is not counted again
        )
        assert got[TOOL_CALL] == [scenarios.TOOL]
        kinds = sorted((s.attributes or {}).get("openinference.span.kind", "-") for s in stack.spans(run))
        assert kinds == ["-", "AGENT", "CHAIN", "LLM", "LLM", "TOOL"]
