"""OpenInference openai-agents 2.6.0 on the OpenAI Agents SDK 0.24.0, alone.

Spans (scope ``openinference.instrumentation.openai_agents``): ``Agent workflow``
AGENT > ``Agent workflow`` CHAIN > one AGENT span per agent run, named after the
agent (``agent.name``, ``graph.node.id``; the specialist's
``graph.node.parent_id`` is the triage agent), siblings under the CHAIN > a
``turn`` CHAIN per model turn > an LLM span (``response`` on the Responses API,
with ``llm.token_count.*`` including ``prompt_details.cache_read`` and
``completion_details.reasoning``; ``generation`` on Chat Completions, prompt and
completion only) and TOOL spans. The handoff is a TOOL span
``handoff to weather_specialist`` with ``input.value`` = source and
``output.value`` = target agent. A failed Responses call's LLM span names no
model (no source: modelName ""). No time to first token.
"""

from agents_cases import AgentsSDKCases
from agents_scenarios import CHAT_COMPLETIONS, RESPONSES, SPECIALIST, TRIAGE


class TestOpenInferenceAgents(AgentsSDKCases):
    error_model = {RESPONSES: "", CHAT_COMPLETIONS: "fail-500"}

    def test_the_handoff_really_is_a_tool_span_naming_source_and_target(self, stack):
        import agents_scenarios

        with stack.run() as run:
            agents_scenarios.handoff_run(stack.stub, RESPONSES)
        stack.events(run)
        spans = stack.spans(run)
        handoffs = [s for s in spans if s.name.startswith("handoff")]
        assert [(s.name, dict(s.attributes)) for s in handoffs] == [
            (
                "handoff to " + SPECIALIST,
                {
                    **{k: v for k, v in handoffs[0].attributes.items() if k.startswith("ld.ai_config.")},
                    "openinference.span.kind": "TOOL",
                    "input.value": TRIAGE,
                    "output.value": SPECIALIST,
                },
            )
        ]
        agents = [s for s in spans if s.attributes.get("graph.node.id") in (TRIAGE, SPECIALIST)]
        assert [(s.attributes["graph.node.id"], s.attributes.get("graph.node.parent_id")) for s in agents] == [
            (TRIAGE, None),
            (SPECIALIST, TRIAGE),
        ]
        assert agents[0].parent.span_id == agents[1].parent.span_id  # siblings under the workflow CHAIN
