"""Agent graphs from Traceloop openai-agents 0.62.4 spans (OpenAI Agents SDK 0.24.0).

Each agent run is an ``invoke_agent`` span with ``gen_ai.agent.name``; the
handoff span names its source (``gen_ai.handoff.from_agent``) but not its target,
which is the next agent to start. On Chat Completions its model spans carry no
usage (its hook reads usage from Responses span data only): no token events there,
for the graph or its nodes.
"""

from agents_graph_cases import AgentsGraphCases
from agents_scenarios import RESPONSES


class TestTraceloopAgentsGraph(AgentsGraphCases):
    usage_apis = (RESPONSES,)
