"""Agent graphs from Traceloop openai-agents 0.62.4 + Traceloop openai 0.62.4.

On Responses the client ``openai.response`` span is a child of the agents one,
same response id and usage (counted once); on Chat Completions the client
``openai.chat`` span is the only one with usage: the graph and its nodes get
tokens on both APIs.
"""

from agents_graph_cases import AgentsGraphCases


class TestTraceloopAgentsAndOpenAIGraph(AgentsGraphCases):
    pass
