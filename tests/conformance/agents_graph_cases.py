"""Agent graphs on the OpenAI Agents SDK: triage_agent hands off to weather_specialist (+ get_weather).

The LaunchDarkly graph ``agents-graph`` has nodes ``triage`` and ``specialist``
(edge triage -> specialist); the SDK's agents are named ``triage_agent`` and
``weather_specialist``, mapped to the node keys with ``ai_run(...,
agent_names=...)``. Every case runs on the Responses API and on Chat Completions.
"""

from __future__ import annotations

from typing import Any

import agents_scenarios
import pytest
from agents_cases import PER_CALL
from agents_scenarios import APIS, QUESTION, SPECIALIST, TOOL, TRIAGE
from graph_cases import add_graph, assert_graph, assert_node, collect, sent_and_inspected, usage

GRAPH = "agents-graph"
NAMES = {TRIAGE: "triage", SPECIALIST: "specialist"}


def run_graph(
    stack: Any, graph: Any, api: str, specialist_model: str = agents_scenarios.MODEL, streamed: bool = False
) -> Any:
    """The handoff run inside ``ai_run(graph, ...)``; returns (the AIRun, the SDK's error or None)."""
    import asyncio

    from agents import Runner

    from ldai_otel import ai_run

    agents_scenarios.use_stub(stack.stub, api)
    triage = agents_scenarios.triage_agent(api)
    triage.handoffs[0].model = specialist_model

    async def stream() -> None:
        result = Runner.run_streamed(triage, QUESTION)
        async for _event in result.stream_events():
            pass

    error = None
    with ai_run(graph, stack.user, agent_names=NAMES) as run:
        try:
            if streamed:
                asyncio.run(stream())
            else:
                Runner.run_sync(triage, QUESTION)
        except Exception as exc:  # noqa: BLE001 - the app catches the failed specialist
            error = exc
    return run, error


class AgentsGraphCases:
    """The OpenAI Agents SDK inside ``ai_run(graph, user)``."""

    usage_apis: tuple[str, ...] = APIS
    """The APIs on which this combination's spans carry the calls' usage."""

    @pytest.fixture(scope="class")
    @classmethod
    def graph(cls, stack):
        return add_graph(stack, GRAPH, "triage", {"triage": ["specialist"]})

    @pytest.fixture(autouse=True)
    def _clean_sink(self, stack):
        from ldai_otel.testing import flush_events

        flush_events(stack.ld_client, stack.sink, stack.processor)
        stack.sink.clear()

    def tokens(self, api: str, calls: int) -> dict[str, int] | None:
        return usage(PER_CALL[api], calls) if api in self.usage_apis else None

    @pytest.mark.parametrize("api", APIS)
    def test_graph_run_path_handoff_and_node_runs(self, stack, graph, api):
        run, error = run_graph(stack, graph, api)
        assert error is None
        events, nodes = collect(stack, run)
        all_calls = self.tokens(api, 3)
        assert_graph(
            events,
            GRAPH,
            success=True,
            total_tokens=all_calls["$ld:ai:tokens:total"] if all_calls else None,
            path=["triage", "specialist"],
            handoffs=[("triage", "specialist", True)],
        )
        assert sorted(nodes) == ["specialist", "triage"]
        assert_node(nodes["triage"], run, GRAPH, "triage", tokens=self.tokens(api, 1), success=True)
        assert_node(
            nodes["specialist"],
            run,
            GRAPH,
            "specialist",
            tokens=self.tokens(api, 2),
            success=True,
            tool_calls=(TOOL,),
        )

    @pytest.mark.parametrize("api", APIS)
    def test_a_streamed_graph_run_is_the_same_graph_run(self, stack, graph, api):
        run, error = run_graph(stack, graph, api, streamed=True)
        assert error is None
        events, nodes = collect(stack, run)
        all_calls = self.tokens(api, 3)
        assert_graph(
            events,
            GRAPH,
            success=True,
            total_tokens=all_calls["$ld:ai:tokens:total"] if all_calls else None,
            path=["triage", "specialist"],
            handoffs=[("triage", "specialist", True)],
        )
        assert sorted(nodes) == ["specialist", "triage"]
        two_calls = self.tokens(api, 2)
        got = {e["key"]: e["metricValue"] for e in nodes["specialist"]}
        assert got.get("$ld:ai:tokens:total") == (two_calls["$ld:ai:tokens:total"] if two_calls else None)
        assert [e["data"]["toolKey"] for e in nodes["specialist"] if e["key"] == "$ld:ai:tool_call"] == [TOOL]

    @pytest.mark.parametrize("api", APIS)
    def test_a_failing_specialist_fails_its_node_and_the_graph(self, stack, graph, api):
        run, error = run_graph(stack, graph, api, specialist_model="fail-500")
        assert error is not None
        events, nodes = collect(stack, run)
        triage_calls = self.tokens(api, 1)
        assert_graph(
            events,
            GRAPH,
            success=False,
            total_tokens=triage_calls["$ld:ai:tokens:total"] if triage_calls else None,
            path=["triage", "specialist"],
            handoffs=[("triage", "specialist", True)],  # the specialist did take over, then failed
        )
        assert_node(nodes["triage"], run, GRAPH, "triage", tokens=triage_calls, success=True)
        assert_node(nodes["specialist"], run, GRAPH, "specialist", tokens=None, success=False)

    @pytest.mark.parametrize("api", APIS)
    def test_inspect_predicts_the_graph_run_exactly(self, stack, graph, api, tmp_path):
        run, _ = run_graph(stack, graph, api)
        sent, predicted, lines = sent_and_inspected(stack, run, tmp_path)
        assert len(sent) >= 9  # 4 graph events, 5 node events without tokens (no usage on the spans)
        assert sorted(predicted, key=repr) == sorted(sent, key=repr)
        assert "  path: triage -> specialist" in lines
        assert "  handoff triage -> specialist: success" in lines
