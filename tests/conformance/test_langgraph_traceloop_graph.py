"""Agent graphs from Traceloop LangChain 0.62.4 spans (LangGraph 1.2).

A LangGraph node's run is the ``execute_task <node>`` span whose
``traceloop.entity.name`` equals its ``traceloop.association.properties.langgraph_node``
(a ReAct worker node adds two nested ``invoke_agent`` spans with
``gen_ai.agent.name``: the same node run). No handoff spans: handoffs are the
moves from one node to the next.
"""

from langgraph_graph_cases import LangGraphGraphCases


class TestLangGraphTraceloopGraph(LangGraphGraphCases):
    pass
