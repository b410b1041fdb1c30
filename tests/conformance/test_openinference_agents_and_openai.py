"""OpenInference openai-agents 2.6.0 with OpenInference openai 0.1.66 underneath.

As ``test_openinference_agents.py``, and each agents LLM span (``response`` /
``generation``) has the openai client's LLM span (``Response`` /
``ChatCompletion``, scope ``openinference.instrumentation.openai``) nested in it,
both with usage (Responses: 30 / 12 / 42 on both): each call is still counted
once. A streamed Responses call's client span has no usage and no first-token
event; a streamed chat's client span has the ``First Token Stream Event``. The
client span of a failed call names the model.
"""

from agents_cases import AgentsSDKCases
from agents_scenarios import CHAT_COMPLETIONS, RESPONSES
from cases import EVENT


class TestOpenInferenceAgentsAndOpenAI(AgentsSDKCases):
    ttft_source = {RESPONSES: None, CHAT_COMPLETIONS: (EVENT, "First Token Stream Event")}

    def test_each_call_really_has_two_llm_spans_with_usage(self, stack):
        import agents_scenarios

        with stack.run() as run:
            agents_scenarios.handoff_run(stack.stub, RESPONSES)
        stack.events(run)
        llm = [s for s in stack.spans(run) if s.attributes.get("openinference.span.kind") == "LLM"]
        assert sorted((s.name, s.attributes["llm.token_count.prompt"]) for s in llm) == [
            ("Response", 30),
            ("Response", 30),
            ("Response", 30),
            ("response", 30),
            ("response", 30),
            ("response", 30),
        ]
        inner = [s for s in llm if s.name == "Response"]
        outer_ids = {s.context.span_id for s in llm if s.name == "response"}
        assert {s.parent.span_id for s in inner} == outer_ids
