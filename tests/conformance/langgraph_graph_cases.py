"""Agent graphs on LangGraph: a supervisor node routing to two worker nodes.

The app's graph (a ``StateGraph`` of ``MessagesState``): ``supervisor`` asks the
model, which answers with a ``transfer_to_<worker>`` tool call (the stub's
handoff rule: the first transfer tool not yet called), and routes there with a
``Command``; each worker is a LangGraph ReAct agent (``create_react_agent``) with
one tool, which returns to the supervisor; when every transfer was made the
supervisor answers. Seven model calls: supervisor, weather_agent (tool, answer),
supervisor, news_agent (tool, answer), supervisor. The LaunchDarkly graph
``langgraph-graph`` has nodes named after the LangGraph nodes, so no name map.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cases import INPUT, OUTPUT, TOTAL
from graph_cases import add_graph, assert_graph, assert_node, collect, sent_and_inspected, usage
from langchain_scenarios import chat_model
from langchain_stub import LangChainOpenAIStub
from stack import FIRST_CHUNK_DELAY_S

GRAPH = "langgraph-graph"
SUPERVISOR = "supervisor"
WEATHER = "weather_agent"
NEWS = "news_agent"
PER_CALL = {INPUT: 11, OUTPUT: 7, TOTAL: 18}


def supervisor_graph(stub: Any, worker_model: str = "gpt-4o-mini") -> Any:
    """The compiled supervisor graph on the stub."""
    import warnings

    from langchain_core.messages import ToolMessage
    from langchain_core.tools import tool
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import create_react_agent
    from langgraph.types import Command

    @tool("transfer_to_" + WEATHER)
    def transfer_to_weather() -> str:
        """Hands the conversation to the weather agent."""
        return "transferred"

    @tool("transfer_to_" + NEWS)
    def transfer_to_news() -> str:
        """Hands the conversation to the news agent."""
        return "transferred"

    @tool("get_weather")
    def get_weather(city: str) -> str:
        """Gets the weather for a city."""
        return "21C in " + city

    @tool("get_news")
    def get_news(city: str) -> str:
        """Gets the news for a city."""
        return "All quiet in " + city

    router = chat_model(stub).bind_tools([transfer_to_weather, transfer_to_news])

    def supervisor(state: MessagesState) -> Command:  # type: ignore[type-arg]
        answer = router.invoke(state["messages"])
        if not answer.tool_calls:
            return Command(goto=END, update={"messages": [answer]})
        call = answer.tool_calls[0]
        done = ToolMessage(content="transferred", tool_call_id=call["id"])
        return Command(goto=call["name"][len("transfer_to_") :], update={"messages": [answer, done]})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        weather = create_react_agent(chat_model(stub, model=worker_model), [get_weather], name=WEATHER)
        news = create_react_agent(chat_model(stub), [get_news], name=NEWS)
    builder = StateGraph(MessagesState)
    builder.add_node(SUPERVISOR, supervisor, destinations=(WEATHER, NEWS, END))
    builder.add_node(WEATHER, weather)
    builder.add_node(NEWS, news)
    builder.add_edge(START, SUPERVISOR)
    builder.add_edge(WEATHER, SUPERVISOR)
    builder.add_edge(NEWS, SUPERVISOR)
    return builder.compile(name="supervisor_graph")


class LangGraphGraphCases:
    """A LangGraph supervisor graph inside ``ai_run(graph, user)``."""

    @pytest.fixture(scope="class")
    @classmethod
    def lc_stub(cls) -> Iterator[LangChainOpenAIStub]:
        stub = LangChainOpenAIStub(first_chunk_delay_s=FIRST_CHUNK_DELAY_S)
        try:
            yield stub
        finally:
            stub.close()

    @pytest.fixture(scope="class")
    @classmethod
    def graph(cls, stack):
        return add_graph(
            stack, GRAPH, SUPERVISOR, {SUPERVISOR: [WEATHER, NEWS], WEATHER: [SUPERVISOR], NEWS: [SUPERVISOR]}
        )

    @pytest.fixture(autouse=True)
    def _clean_sink(self, stack):
        from ldai_otel.testing import flush_events

        flush_events(stack.ld_client, stack.sink, stack.processor)
        stack.sink.clear()

    def test_supervisor_and_two_workers(self, stack, lc_stub, graph):
        from ldai_otel import ai_run

        with ai_run(graph, stack.user) as run:
            result = supervisor_graph(lc_stub).invoke({"messages": [("human", "Weather and news in Paris?")]})
        assert result["messages"][-1].content == "Hello from the stub."
        events, nodes = collect(stack, run)
        path = [SUPERVISOR, WEATHER, SUPERVISOR, NEWS, SUPERVISOR]
        assert_graph(
            events,
            GRAPH,
            success=True,
            total_tokens=PER_CALL[TOTAL] * 7,
            path=path,
            handoffs=[(a, b, True) for a, b in zip(path, path[1:], strict=False)],
        )
        assert sorted(nodes) == sorted([SUPERVISOR, WEATHER, NEWS])
        assert_node(nodes[SUPERVISOR], run, GRAPH, SUPERVISOR, tokens=usage(PER_CALL, 3), success=True)
        assert_node(
            nodes[WEATHER], run, GRAPH, WEATHER, tokens=usage(PER_CALL, 2), success=True, tool_calls=("get_weather",)
        )
        assert_node(nodes[NEWS], run, GRAPH, NEWS, tokens=usage(PER_CALL, 2), success=True, tool_calls=("get_news",))

    def test_a_failing_worker_fails_its_node_and_the_graph(self, stack, lc_stub, graph):
        from ldai_otel import ai_run

        with ai_run(graph, stack.user) as run:
            with pytest.raises(Exception):  # noqa: B017 - whichever error langchain-openai raises
                supervisor_graph(lc_stub, worker_model="fail-500").invoke({"messages": [("human", "Weather?")]})
        events, nodes = collect(stack, run)
        assert_graph(
            events,
            GRAPH,
            success=False,
            total_tokens=PER_CALL[TOTAL],
            path=[SUPERVISOR, WEATHER],
            handoffs=[(SUPERVISOR, WEATHER, True)],
        )
        assert_node(nodes[SUPERVISOR], run, GRAPH, SUPERVISOR, tokens=usage(PER_CALL, 1), success=True)
        assert_node(nodes[WEATHER], run, GRAPH, WEATHER, tokens=None, success=False)

    def test_inspect_predicts_the_graph_run_exactly(self, stack, lc_stub, graph, tmp_path):
        from ldai_otel import ai_run

        with ai_run(graph, stack.user) as run:
            supervisor_graph(lc_stub).invoke({"messages": [("human", "Weather and news in Paris?")]})
        sent, predicted, lines = sent_and_inspected(stack, run, tmp_path)
        assert len(sent) >= 20
        assert sorted(predicted, key=repr) == sorted(sent, key=repr)
        assert "  path: supervisor -> weather_agent -> supervisor -> news_agent -> supervisor" in lines
        assert not [line for line in lines if "matches no node" in line]
