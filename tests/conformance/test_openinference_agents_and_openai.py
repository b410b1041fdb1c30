"""OpenAI Agents SDK 0.24.0: openinference_agents_and_openai (to be described)."""

from agents_cases import AgentsSDKCases


class TestOpeninferenceAgentsAndOpenai(AgentsSDKCases):
    pass
