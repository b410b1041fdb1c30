"""pydantic-ai's instrumentation with openai-v2 underneath: two chat spans per request.

Each pydantic-ai chat span has an openai-v2 chat span nested in it, both with
usage, under an agent span with the aggregate: still 11/7/18 per call.
"""

from cases import ATTRIBUTE_S, AgentCases


class TestPydanticAIAndOpenAIV2(AgentCases):
    ttft_source = (ATTRIBUTE_S, "gen_ai.client.operation.time_to_first_chunk")

    def test_each_request_really_has_two_chat_spans(self, stack):
        import scenarios

        with stack.run() as run:
            scenarios.agent_run(stack.stub)
        stack.events(run)
        chats = [s for s in stack.spans(run) if (s.attributes or {}).get("gen_ai.operation.name") == "chat"]
        assert len(chats) == 4
