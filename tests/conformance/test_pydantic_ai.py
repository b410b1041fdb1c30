"""pydantic-ai 2.68.0 with its own instrumentation (``Agent.instrument_all()``).

Agent spans carry their children's usage as ``gen_ai.aggregated_usage.*``
(not added again); tools are ``execute_tool`` spans; streamed model calls carry
``gen_ai.client.operation.time_to_first_chunk`` in seconds.
"""

from cases import ATTRIBUTE_S, AgentCases


class TestPydanticAI(AgentCases):
    ttft_source = (ATTRIBUTE_S, "gen_ai.client.operation.time_to_first_chunk")

    def test_the_agent_span_really_repeats_its_childrens_usage(self, stack):
        import scenarios

        with stack.run() as run:
            scenarios.agent_run(stack.stub)
        stack.events(run)
        agents = [s for s in stack.spans(run) if (s.attributes or {}).get("gen_ai.operation.name") == "invoke_agent"]
        assert agents[0].attributes["gen_ai.aggregated_usage.input_tokens"] == 22
