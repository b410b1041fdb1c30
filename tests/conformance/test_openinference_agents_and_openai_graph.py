"""Agent graphs from OpenInference openai-agents 2.6.0 + OpenInference openai 0.1.66.

Each model call is seen twice: the agents ``response`` / ``generation`` LLM span
and the client's ``Response`` / ``ChatCompletion`` LLM span, its child. Both are
under the agent's span, so each node's calls count once by the rule book's rule.
"""

from agents_graph_cases import AgentsGraphCases


class TestOpenInferenceAgentsAndOpenAIGraph(AgentsGraphCases):
    pass
