"""Agent graphs from spans (issue 11; docs/graphs.md).

``ai_run(graph, context)`` with a real ``AgentGraphDefinition`` (TestData flags
for the graph and its nodes), a real TracerProvider, LDAISpanProcessor and
LDClient; the events asserted are those at the loopback sink. The spans are
written with the attributes, names, scopes and parent links the real
instrumentations write (QUIRKS: OpenInference and Traceloop openai-agents,
LangGraph through OpenInference and Traceloop LangChain); the conformance
suite runs the real frameworks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from genai import GRAPH, add_weather_graph
from ldai import LDAIClient
from opentelemetry.trace import Status, StatusCode

from ldai_otel import ai_run
from ldai_otel.testing import flush_events

OI_AGENTS = "openinference.instrumentation.openai_agents"
TL_AGENTS = "opentelemetry.instrumentation.openai_agents"


@pytest.fixture
def test_data(test_data):
    return add_weather_graph(test_data)


@pytest.fixture
def graph(ai_client: LDAIClient, user):
    return ai_client.agent_graph(GRAPH, user)


def graph_events(sink) -> list[dict[str, Any]]:
    return [e for e in sink.events() if e.get("kind") == "custom" and e["key"].startswith("$ld:ai:graph:")]


def by_key(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        out.setdefault(e["key"], []).append(e)
    return out


def node_events(events: list[dict[str, Any]], node: str) -> dict[str, Any]:
    """key -> value (tool calls: the list of toolKeys) of one node's run."""
    out: dict[str, Any] = {}
    for e in events:
        if e["data"]["configKey"] != node:
            continue
        if e["key"] == "$ld:ai:tool_call":
            out.setdefault("tools", []).append(e["data"]["toolKey"])
        elif e["key"] == "$ld:ai:duration:total":
            out["duration"] = e["metricValue"]
        else:
            out[e["key"]] = e["metricValue"]
    return out


@contextmanager
def span(provider, scope: str, name: str, attrs: dict[str, Any], error: bool = False) -> Iterator[Any]:
    with provider.get_tracer(scope).start_as_current_span(name, attributes=attrs) as s:
        yield s
        if error:
            s.set_status(Status(StatusCode.ERROR))


def oi_response(provider, error: bool = False) -> None:
    attrs: dict[str, Any] = {"openinference.span.kind": "LLM", "llm.system": "openai"}
    if not error:
        attrs.update(
            {
                "llm.model_name": "gpt-4o-mini",
                "llm.token_count.prompt": 30,
                "llm.token_count.completion": 12,
                "llm.token_count.total": 42,
            }
        )
    with span(provider, OI_AGENTS, "response", attrs, error=error):
        pass


def oi_agent(provider, name: str, parent: str | None = None) -> Any:
    attrs = {"openinference.span.kind": "AGENT", "agent.name": name, "graph.node.id": name}
    if parent:
        attrs["graph.node.parent_id"] = parent
    return span(provider, OI_AGENTS, name, attrs)


def oi_turn(provider) -> Any:
    return span(provider, OI_AGENTS, "turn", {"openinference.span.kind": "CHAIN"})


def oi_handoff_run(provider, *, specialist_runs: bool = True, specialist_fails: bool = False) -> None:
    """What OpenInference openai-agents 2.6 writes for triage_agent -> weather_specialist (+ get_weather)."""
    with span(provider, OI_AGENTS, "Agent workflow", {"openinference.span.kind": "AGENT"}):
        with span(provider, OI_AGENTS, "Agent workflow", {"openinference.span.kind": "CHAIN"}):
            with oi_agent(provider, "triage_agent"), oi_turn(provider):
                oi_response(provider)
                handoff = {
                    "openinference.span.kind": "TOOL",
                    "input.value": "triage_agent",
                    "output.value": "weather_specialist",
                }
                with span(provider, OI_AGENTS, "handoff to weather_specialist", handoff):
                    pass
            if not specialist_runs:
                return
            with oi_agent(provider, "weather_specialist", parent="triage_agent") as agent:
                with oi_turn(provider):
                    oi_response(provider)
                    tool = {"openinference.span.kind": "TOOL", "tool.name": "get_weather"}
                    with span(provider, OI_AGENTS, "get_weather", tool):
                        pass
                with oi_turn(provider):
                    oi_response(provider, error=specialist_fails)
                if specialist_fails:
                    agent.set_status(Status(StatusCode.ERROR))


NAMES = {"triage_agent": "triage", "weather_specialist": "specialist"}


def test_openinference_handoff_run_emits_graph_events_path_handoff_and_one_run_per_node(
    provider, graph, user, ld_client, sink, processor
):
    with ai_run(graph, user, tracer_provider=provider, agent_names=NAMES) as run:
        oi_handoff_run(provider)
    events = flush_events(ld_client, sink, processor)

    graph_data = {"variationKey": "v-graph", "graphKey": GRAPH, "version": 2}
    got = by_key(graph_events(sink))
    assert sorted(got) == [
        "$ld:ai:graph:duration:total",
        "$ld:ai:graph:handoff_success",
        "$ld:ai:graph:invocation_success",
        "$ld:ai:graph:path",
        "$ld:ai:graph:total_tokens",
    ]
    assert all(len(v) == 1 for v in got.values())
    assert got["$ld:ai:graph:invocation_success"][0]["data"] == graph_data
    assert got["$ld:ai:graph:total_tokens"][0]["metricValue"] == 126  # 3 calls x 42, each once
    assert got["$ld:ai:graph:path"][0]["data"] == {**graph_data, "path": ["triage", "specialist"]}
    assert got["$ld:ai:graph:handoff_success"][0]["data"] == {
        **graph_data,
        "sourceKey": "triage",
        "targetKey": "specialist",
    }
    assert got["$ld:ai:graph:duration:total"][0]["metricValue"] >= 0
    assert got["$ld:ai:graph:invocation_success"][0]["context"] == {"kind": "user", "key": "user-42"}

    # One node run each, runId = the trace id, events carrying graphKey.
    assert {e["data"]["runId"] for e in events} == {run.run_id}
    assert {e["data"]["configKey"] for e in events} == {"triage", "specialist"}
    assert all(e["data"]["graphKey"] == GRAPH for e in events)
    triage = node_events(events, "triage")
    specialist = node_events(events, "specialist")
    assert triage.pop("duration") >= 0 and specialist.pop("duration") >= 0
    assert triage == {
        "$ld:ai:tokens:total": 42,
        "$ld:ai:tokens:input": 30,
        "$ld:ai:tokens:output": 12,
        "$ld:ai:generation:success": 1,
    }
    assert specialist == {
        "$ld:ai:tokens:total": 84,
        "$ld:ai:tokens:input": 60,
        "$ld:ai:tokens:output": 24,
        "tools": ["get_weather"],
        "$ld:ai:generation:success": 1,
    }
    first = next(e for e in events if e["data"]["configKey"] == "specialist")
    assert {k: first["data"][k] for k in ("variationKey", "version", "modelName", "providerName")} == {
        "variationKey": "v-spec",
        "version": 5,
        "modelName": "gpt-4o",
        "providerName": "openai",
    }


def test_a_handoff_whose_target_never_ran_is_a_handoff_failure(provider, graph, user, ld_client, sink, processor):
    with ai_run(graph, user, tracer_provider=provider, agent_names=NAMES):
        oi_handoff_run(provider, specialist_runs=False)
    events = flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert "$ld:ai:graph:handoff_success" not in got
    failure = got["$ld:ai:graph:handoff_failure"][0]["data"]
    assert (failure["sourceKey"], failure["targetKey"]) == ("triage", "specialist")
    assert got["$ld:ai:graph:path"][0]["data"]["path"] == ["triage"]
    assert {e["data"]["configKey"] for e in events} == {"triage"}


def test_a_failed_last_model_call_fails_the_node_and_the_graph(provider, graph, user, ld_client, sink, processor):
    with ai_run(graph, user, tracer_provider=provider, agent_names=NAMES):
        oi_handoff_run(provider, specialist_fails=True)
    events = flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert "$ld:ai:graph:invocation_success" not in got
    assert len(got["$ld:ai:graph:invocation_failure"]) == 1
    assert got["$ld:ai:graph:total_tokens"][0]["metricValue"] == 84  # the failed call had no usage
    assert got["$ld:ai:graph:handoff_success"][0]["data"]["targetKey"] == "specialist"
    assert node_events(events, "triage")["$ld:ai:generation:success"] == 1
    specialist = node_events(events, "specialist")
    assert specialist["$ld:ai:generation:error"] == 1
    assert "$ld:ai:generation:success" not in specialist


def test_an_unmatched_agent_counts_toward_the_graph_tokens_only(provider, graph, user, ld_client, sink, processor):
    # No name map: triage_agent and weather_specialist match no node key.
    with ai_run(graph, user, tracer_provider=provider, agent_names={"triage_agent": "triage"}):
        oi_handoff_run(provider)
    events = flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert got["$ld:ai:graph:total_tokens"][0]["metricValue"] == 126
    assert got["$ld:ai:graph:path"][0]["data"]["path"] == ["triage"]
    # The handoff span names its target: it ran, but under no node of this graph.
    failure = got["$ld:ai:graph:handoff_failure"][0]["data"]
    assert (failure["sourceKey"], failure["targetKey"]) == ("triage", "weather_specialist")
    assert {e["data"]["configKey"] for e in events} == {"triage"}
    assert node_events(events, "triage")["$ld:ai:tokens:total"] == 42


def tl_handoff_run(provider, *, twice: bool = False) -> None:
    """Traceloop openai-agents 0.62.4, Responses: invoke_agent siblings, a handoff span without target."""

    def agent(name: str) -> Any:
        attrs = {"traceloop.span.kind": "agent", "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        return span(provider, TL_AGENTS, name + ".agent", attrs)

    def response(n: int) -> None:
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.response.id": "resp_%d" % n,
            "gen_ai.usage.input_tokens": 30,
            "gen_ai.usage.output_tokens": 12,
            "gen_ai.usage.total_tokens": 42,
        }
        with span(provider, TL_AGENTS, "openai.response", attrs):
            pass

    with span(provider, TL_AGENTS, "Agent Workflow", {"traceloop.span.kind": "workflow"}):
        with agent("triage"):
            response(1)
            handoff = {
                "traceloop.span.kind": "handoff",
                "gen_ai.operation.name": "handoff",
                "gen_ai.handoff.from_agent": "triage",
                "gen_ai.agent.name": "triage",
            }
            with span(provider, TL_AGENTS, "triage → unknown.handoff", handoff):
                pass
        with agent("specialist"):
            response(2)
            tool = {
                "traceloop.span.kind": "tool",
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
            }
            with span(provider, TL_AGENTS, "get_weather.tool", tool):
                pass
            response(3)
        if twice:
            with agent("specialist"):
                response(4)


def test_traceloop_handoff_target_is_the_next_agent_to_start(provider, graph, user, ld_client, sink, processor):
    # Agents named after their node keys: no map needed.
    with ai_run(graph, user, tracer_provider=provider):
        tl_handoff_run(provider)
    events = flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert got["$ld:ai:graph:path"][0]["data"]["path"] == ["triage", "specialist"]
    success = got["$ld:ai:graph:handoff_success"][0]["data"]
    assert (success["sourceKey"], success["targetKey"]) == ("triage", "specialist")
    assert got["$ld:ai:graph:total_tokens"][0]["metricValue"] == 126
    assert node_events(events, "specialist")["tools"] == ["get_weather"]
    assert node_events(events, "triage")["$ld:ai:tokens:total"] == 42


def test_an_agent_that_runs_twice_is_one_node_run(provider, graph, user, ld_client, sink, processor):
    with ai_run(graph, user, tracer_provider=provider):
        tl_handoff_run(provider, twice=True)
    events = flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert got["$ld:ai:graph:path"][0]["data"]["path"] == ["triage", "specialist"]
    specialist = node_events(events, "specialist")
    assert specialist["$ld:ai:tokens:total"] == 126  # both runs summed
    assert specialist["$ld:ai:generation:success"] == 1
    assert [e["key"] for e in events if e["data"]["configKey"] == "specialist"].count("$ld:ai:duration:total") == 1
    assert got["$ld:ai:graph:total_tokens"][0]["metricValue"] == 168


def test_an_exception_in_the_graph_scope_is_an_invocation_failure(provider, graph, user, ld_client, sink, processor):
    with pytest.raises(RuntimeError):
        with ai_run(graph, user, tracer_provider=provider):
            tl_handoff_run(provider)
            raise RuntimeError("boom")
    flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert len(got["$ld:ai:graph:invocation_failure"]) == 1
    assert "$ld:ai:graph:invocation_success" not in got


def test_a_requested_handoff_tool_is_no_tool_call(tracer, chat_config, user, collect):
    # The OpenAI Agents SDK and langgraph-supervisor offer handoffs as transfer_to_<agent> tools.
    import json

    from genai import chat

    parts = [
        {"type": "tool_call", "name": "transfer_to_weather_specialist", "arguments": {}},
        {"type": "tool_call", "name": "get_weather", "arguments": {}},
    ]
    messages = json.dumps([{"role": "assistant", "parts": parts}])
    with ai_run(chat_config, user):
        chat(tracer, 10, 5, extra={"gen_ai.output.messages": messages})
    events = collect()
    assert [e["data"]["toolKey"] for e in events if e["key"] == "$ld:ai:tool_call"] == ["get_weather"]


def invoke_agent(name: str) -> dict[str, Any]:
    return {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}


def test_a_handoff_span_that_failed_is_a_handoff_failure(provider, graph, user, ld_client, sink, processor):
    with ai_run(graph, user, tracer_provider=provider):
        with span(provider, TL_AGENTS, "triage.agent", invoke_agent("triage")):
            handoff = {"gen_ai.operation.name": "handoff", "gen_ai.handoff.from_agent": "triage"}
            with span(provider, TL_AGENTS, "triage → unknown.handoff", handoff, error=True):
                pass
        with span(provider, TL_AGENTS, "specialist.agent", invoke_agent("specialist")):
            pass
    flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert [(e["data"]["sourceKey"], e["data"]["targetKey"]) for e in got["$ld:ai:graph:handoff_failure"]] == [
        ("triage", "specialist")
    ]
    assert "$ld:ai:graph:handoff_success" not in got


def test_a_disabled_graph_still_binds_a_run_and_never_breaks_the_app(
    ai_client, provider, user, ld_client, sink, processor
):
    graph = ai_client.agent_graph("no-such-graph", user)  # no flag: LaunchDarkly returns a disabled graph
    assert not graph.is_enabled()
    with ai_run(graph, user, tracer_provider=provider) as run:
        tl_handoff_run(provider)
    events = flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert got["$ld:ai:graph:total_tokens"][0]["metricValue"] == 126  # every agent unmatched: graph totals only
    assert got["$ld:ai:graph:total_tokens"][0]["data"]["graphKey"] == "no-such-graph"
    assert "$ld:ai:graph:path" not in got
    assert [e for e in events if e["data"]["runId"] == run.run_id] == []
