"""Agent graphs from OpenInference LangChain 0.1.80 spans (LangGraph 1.2).

A LangGraph node's run is the span named after the node whose ``metadata``
JSON says ``langgraph_node`` = that name (every span under a node inherits its
metadata; only the node's own span bears its name); OpenInference writes no
``agent.name`` or ``graph.node.id`` for LangGraph. No handoff spans: handoffs are
the moves from one node to the next.
"""

from langgraph_graph_cases import LangGraphGraphCases


class TestLangGraphOpenInferenceGraph(LangGraphGraphCases):
    pass
