"""Agent graphs from OpenInference openai-agents 2.6.0 spans (OpenAI Agents SDK 0.24.0).

Each agent run is an AGENT span with ``agent.name`` / ``graph.node.id`` (the
specialist's ``graph.node.parent_id`` is the triage agent); the handoff is a TOOL
span ``handoff to weather_specialist`` naming source (``input.value``) and target
(``output.value``); each agent's model calls are the LLM spans under it, with
usage on both APIs.
"""

from agents_graph_cases import AgentsGraphCases


class TestOpenInferenceAgentsGraph(AgentsGraphCases):
    pass
