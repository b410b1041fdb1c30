"""Traceloop openai-agents 0.62.4 with Traceloop openai 0.62.4 underneath.

As ``test_traceloop_agents.py``, and each agents ``openai.response`` span has the
openai client's span nested in it (scope ``opentelemetry.instrumentation.openai.v1``:
``openai.response`` on Responses, with the same ``gen_ai.response.id`` and usage;
``openai.chat`` on Chat Completions, with usage 11 / 7 / 18 where the agents span
has none): each call counted once. Time to first token of a streamed chat from
the client span's first ``gen_ai.content.completion.chunk`` event; a streamed
Responses call has none. The client span of a failed call names the model.
"""

from agents_cases import AgentsSDKCases
from agents_scenarios import CHAT_COMPLETIONS, RESPONSES
from cases import EVENT

AGENTS_SCOPE = "opentelemetry.instrumentation.openai_agents"
CLIENT_SCOPE = "opentelemetry.instrumentation.openai.v1"


class TestTraceloopAgentsAndOpenAI(AgentsSDKCases):
    ttft_source = {RESPONSES: None, CHAT_COMPLETIONS: (EVENT, "gen_ai.content.completion.chunk")}

    def test_agent_and_client_spans_really_share_the_response_id(self, stack):
        import agents_scenarios

        with stack.run() as run:
            agents_scenarios.handoff_run(stack.stub, RESPONSES)
        stack.events(run)
        calls = [s for s in stack.spans(run) if s.name == "openai.response"]
        by_scope: dict[str, list[str]] = {}
        for span in calls:
            by_scope.setdefault(span.instrumentation_scope.name, []).append(span.attributes["gen_ai.response.id"])
        agents_scope, client_scope = AGENTS_SCOPE, CLIENT_SCOPE
        assert set(by_scope) == {agents_scope, client_scope}
        ids = by_scope[agents_scope]
        assert len(set(ids)) == 3 and all(i.startswith("resp_") for i in ids)
        assert sorted(ids) == sorted(by_scope[client_scope])
