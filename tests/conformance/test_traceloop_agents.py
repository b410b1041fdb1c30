"""Traceloop (OpenLLMetry) openai-agents 0.62.4 on the OpenAI Agents SDK 0.24.0, alone.

Spans (scope ``opentelemetry.instrumentation.openai_agents``): ``Agent Workflow``
(``traceloop.span.kind`` workflow) > one ``<agent>.agent`` span per agent run
(``gen_ai.operation.name`` invoke_agent, ``gen_ai.agent.name``), siblings, no
parent link between agents > ``openai.response`` (operation chat, CLIENT) per
model call, ``<tool>.tool`` (execute_tool, ``gen_ai.tool.name``) and a handoff
span ``triage_agent → unknown.handoff`` (operation handoff,
``gen_ai.handoff.from_agent``; no target: the next agent span is the target).
On the Responses API the model span has ``gen_ai.usage.*`` (cache_read and
reasoning included in input / output), ``gen_ai.response.id`` and the model;
on Chat Completions it has only ``gen_ai.request.model``: no usage (no source,
so no token events). A failed Responses call names no model (modelName "").
No time to first token.
"""

from agents_cases import AgentsSDKCases
from agents_scenarios import CHAT_COMPLETIONS, RESPONSES, TRIAGE


class TestTraceloopAgents(AgentsSDKCases):
    usage_apis = (RESPONSES,)
    error_model = {RESPONSES: "", CHAT_COMPLETIONS: "fail-500"}

    def test_the_handoff_span_really_names_only_its_source(self, stack):
        import agents_scenarios

        with stack.run() as run:
            agents_scenarios.handoff_run(stack.stub, RESPONSES)
        stack.events(run)
        handoffs = [s for s in stack.spans(run) if s.attributes.get("gen_ai.operation.name") == "handoff"]
        assert [(s.name, s.attributes.get("gen_ai.handoff.from_agent")) for s in handoffs] == [
            (TRIAGE + " → unknown.handoff", TRIAGE)
        ]
        assert not any("to_agent" in key for key in handoffs[0].attributes)

    def test_chat_completions_model_spans_really_carry_no_usage(self, stack):
        import agents_scenarios

        with stack.run() as run:
            agents_scenarios.chat_run(stack.stub, CHAT_COMPLETIONS)
        stack.events(run)
        calls = [s for s in stack.spans(run) if s.name == "openai.response"]
        assert len(calls) == 1
        assert not [key for key in calls[0].attributes if key.startswith("gen_ai.usage.")]
