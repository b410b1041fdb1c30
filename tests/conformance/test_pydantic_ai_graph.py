"""Agent graphs from pydantic-ai 2.68.0's own spans: agent delegation.

A ``coordinator`` agent's tool ``ask_weather_agent`` runs a second agent,
``weather_agent`` (one tool, ``get_weather``), and returns its answer. Each agent
run is an ``invoke_agent`` span with ``gen_ai.agent.name``; the delegate's span
is inside the coordinator's tool span. pydantic-ai writes no handoff span: the
handoff is the move from one node to the next in the path. Four model calls:
coordinator (asks for the tool), weather_agent (asks for get_weather, answers),
coordinator (answers).
"""

from __future__ import annotations

from typing import Any

import pytest
from cases import INPUT, OUTPUT, TOTAL
from graph_cases import add_graph, assert_graph, assert_node, collect, sent_and_inspected, usage
from openai_stub import COMPLETION_TOKENS, PROMPT_TOKENS
from scenarios import MODEL

GRAPH = "pydantic-graph"
COORDINATOR = "coordinator"
WEATHER = "weather_agent"
PER_CALL = {INPUT: PROMPT_TOKENS, OUTPUT: COMPLETION_TOKENS, TOTAL: PROMPT_TOKENS + COMPLETION_TOKENS}


def coordinator(stub: Any, weather_model: str = MODEL) -> Any:
    import openai
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    def model(name: str) -> Any:
        client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="test-key", max_retries=0)
        return OpenAIChatModel(name, provider=OpenAIProvider(openai_client=client))

    weather_agent = Agent(model(weather_model), name=WEATHER, instructions="Answer with the tool.")

    @weather_agent.tool_plain
    def get_weather(city: str) -> str:
        """Gets the weather for a city."""
        return "21C in " + city

    lead = Agent(model(MODEL), name=COORDINATOR, instructions="Delegate weather questions.")

    @lead.tool_plain
    async def ask_weather_agent(city: str) -> str:
        """Asks the weather agent about a city."""
        return (await weather_agent.run("Weather in " + city + "?")).output

    return lead


class TestPydanticAIGraph:
    @pytest.fixture(scope="class")
    @classmethod
    def graph(cls, stack):
        return add_graph(stack, GRAPH, COORDINATOR, {COORDINATOR: [WEATHER]})

    @pytest.fixture(autouse=True)
    def _clean_sink(self, stack):
        from ldai_otel.testing import flush_events

        flush_events(stack.ld_client, stack.sink, stack.processor)
        stack.sink.clear()

    def test_delegation_is_a_graph_run_with_two_node_runs(self, stack, graph):
        from ldai_otel import ai_run

        with ai_run(graph, stack.user) as run:
            assert coordinator(stack.stub).run_sync("Weather in Paris?").output == "Hello from the stub."
        events, nodes = collect(stack, run)
        assert_graph(
            events,
            GRAPH,
            success=True,
            total_tokens=PER_CALL[TOTAL] * 4,
            path=[COORDINATOR, WEATHER],
            handoffs=[(COORDINATOR, WEATHER, True)],
        )
        assert sorted(nodes) == [COORDINATOR, WEATHER]
        assert_node(
            nodes[COORDINATOR],
            run,
            GRAPH,
            COORDINATOR,
            tokens=usage(PER_CALL, 2),
            success=True,
            tool_calls=("ask_weather_agent",),
        )
        assert_node(
            nodes[WEATHER], run, GRAPH, WEATHER, tokens=usage(PER_CALL, 2), success=True, tool_calls=("get_weather",)
        )

    def test_a_failing_delegate_fails_its_node_and_the_graph(self, stack, graph):
        from ldai_otel import ai_run

        with ai_run(graph, stack.user) as run:
            with pytest.raises(Exception):  # noqa: B017 - whichever error pydantic-ai raises
                coordinator(stack.stub, weather_model="fail-500").run_sync("Weather in Paris?")
        events, nodes = collect(stack, run)
        assert_graph(
            events,
            GRAPH,
            success=False,
            total_tokens=PER_CALL[TOTAL],
            path=[COORDINATOR, WEATHER],
            handoffs=[(COORDINATOR, WEATHER, True)],
        )
        assert_node(nodes[WEATHER], run, GRAPH, WEATHER, tokens=None, success=False)
        # The delegate's error left the coordinator's run too (its agent span ended ERROR).
        assert_node(
            nodes[COORDINATOR],
            run,
            GRAPH,
            COORDINATOR,
            tokens=usage(PER_CALL, 1),
            success=False,
            tool_calls=("ask_weather_agent",),
        )

    def test_inspect_predicts_the_graph_run_exactly(self, stack, graph, tmp_path):
        from ldai_otel import ai_run

        with ai_run(graph, stack.user) as run:
            coordinator(stack.stub).run_sync("Weather in Paris?")
        sent, predicted, lines = sent_and_inspected(stack, run, tmp_path)
        assert len(sent) >= 15
        assert sorted(predicted, key=repr) == sorted(sent, key=repr)
        assert "  path: coordinator -> weather_agent" in lines
