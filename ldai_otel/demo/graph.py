"""``ldai-otel demo``'s agent-graph run: a triage agent hands off to a specialist with a tool.

The graph and its two nodes are TestData flags; the agents' spans are written
the way GenAI agent instrumentations write them (``invoke_agent`` spans with
``gen_ai.agent.name``, a ``handoff`` span, model calls and a tool under each
agent); the report is read back from the events that arrived at the sink.
"""

from __future__ import annotations

from typing import Any, TextIO

from opentelemetry.sdk.trace import TracerProvider

from ldai_otel.model import attributes as A
from ldai_otel.scope import ai_run
from ldai_otel.testing import add_agent_graph, add_ai_config

GRAPH = "support-graph"
TRIAGE = "triage-agent"
SPECIALIST = "billing-specialist"
EXPECTED_PATH = [TRIAGE, SPECIALIST]


def add_flags(td: Any) -> None:
    """The graph and its nodes' AI Configs."""
    add_ai_config(td, TRIAGE, variation_key="fast", version=3, model="gpt-4o-mini", provider="openai")
    add_ai_config(td, SPECIALIST, variation_key="careful", version=5, model="gpt-4o", provider="openai")
    add_agent_graph(td, GRAPH, TRIAGE, {TRIAGE: [SPECIALIST]}, variation_key="two-step", version=2)


def run_graph(provider: TracerProvider, ai_client: Any, context: Any, model: Any) -> str:
    """One graph run: triage (one model call, a handoff), specialist (tool, two calls). Returns the runId."""
    tracer = provider.get_tracer("ldai_otel.demo")
    graph = ai_client.agent_graph(GRAPH, context)

    def agent(name: str) -> Any:
        attrs = {A.GEN_AI_OPERATION_NAME: "invoke_agent", A.GEN_AI_AGENT_NAME: name}
        return tracer.start_as_current_span("invoke_agent " + name, attributes=attrs)

    with ai_run(graph, context, new_trace=True, tracer_provider=provider) as run:
        with agent(TRIAGE):
            model.chat("Why was I charged twice?", input_tokens=150, output_tokens=12)
            handoff = {A.GEN_AI_OPERATION_NAME: "handoff", A.GEN_AI_HANDOFF_FROM_AGENT: TRIAGE}
            tracer.start_span("handoff " + TRIAGE, attributes=handoff).end()
        with agent(SPECIALIST):
            model.chat("Why was I charged twice? (from triage)", input_tokens=180, output_tokens=20)
            model.run_tool("lookup_invoice", lambda: "two charges, one refunded")
            model.chat("Tool said: two charges, one refunded", input_tokens=230, output_tokens=60)
    return run.run_id


def report(run_id: str, events: list[dict[str, Any]], graph_events: list[dict[str, Any]], out: TextIO) -> list[str]:
    """Prints the graph run as the sink received it; returns what is missing or wrong."""
    problems: list[str] = []
    by_key = {e["key"]: e for e in graph_events if e["data"].get("graphKey") == GRAPH}
    path = by_key.get("$ld:ai:graph:path", {}).get("data", {}).get("path")
    handoff = by_key.get("$ld:ai:graph:handoff_success", {}).get("data", {})
    out.write("run: agent graph (triage hands off to a specialist)\n")
    out.write("  runId        %s\n" % run_id)
    out.write("  trace id     %s\n" % run_id.replace("-", ""))
    out.write("  graph        %s\n" % GRAPH)
    out.write("  path         %s\n" % (" -> ".join(path) if path else "-"))
    out.write("  handoff      %s\n" % ("%s -> %s" % (handoff["sourceKey"], handoff["targetKey"]) if handoff else "-"))
    out.write("  total tokens %s\n" % by_key.get("$ld:ai:graph:total_tokens", {}).get("metricValue", "-"))
    outcome = "success" if "$ld:ai:graph:invocation_success" in by_key else "missing"
    out.write("  outcome      %s\n" % outcome)
    for node in EXPECTED_PATH:
        mine = [e for e in events if e["data"].get("runId") == run_id and e["data"].get("configKey") == node]
        values = {e["key"]: e["metricValue"] for e in mine}
        tools = [e["data"].get("toolKey") for e in mine if e["key"] == "$ld:ai:tool_call"]
        out.write(
            "  node %-19s tokens %s, tool calls %s, %s\n"
            % (
                node,
                values.get("$ld:ai:tokens:total", "-"),
                ", ".join(tools) or "-",
                "success" if "$ld:ai:generation:success" in values else "missing",
            )
        )
        if "$ld:ai:generation:success" not in values or "$ld:ai:duration:total" not in values:
            problems.append("graph node " + node)
    out.write("\n")
    if path != EXPECTED_PATH or handoff.get("targetKey") != SPECIALIST or outcome != "success":
        problems.append("agent graph")
    return problems
