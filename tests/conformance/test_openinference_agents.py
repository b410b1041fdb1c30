"""OpenAI Agents SDK 0.24.0: openinference_agents (to be described)."""

from agents_cases import AgentsSDKCases


class TestOpeninferenceAgents(AgentsSDKCases):
    pass
