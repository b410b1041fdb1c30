"""OpenAI Agents SDK 0.24.0: traceloop_agents (to be described)."""

from agents_cases import AgentsSDKCases


class TestTraceloopAgents(AgentsSDKCases):
    pass
