"""Agent graphs from LangGraph spans (issue 11): a supervisor node and a ReAct worker node.

Real TracerProvider, LDAISpanProcessor, LDClient and sink; the spans have the
names, scopes, nesting and attributes OpenInference LangChain 0.1.80 and Traceloop
LangChain 0.62.4 wrote for LangGraph 1.2 in the conformance run (supervisor ->
weather_agent -> supervisor): LangGraph node names only in LangChain metadata,
a ReAct worker's own ``agent`` / ``tools`` nodes inside it, Traceloop's
``create_agent`` span at compile time and ``goto`` spans for ``Command(goto=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from ldai import LDAIClient
from test_graphs import by_key, graph_events, node_events

from ldai_otel import ai_run
from ldai_otel.testing import add_agent_graph, add_ai_config, flush_events

GRAPH = "langgraph-graph"
OI = "openinference.instrumentation.langchain"
TL = "opentelemetry.instrumentation.langchain"


@pytest.fixture
def test_data(test_data):
    for node in ("supervisor", "weather_agent"):
        add_ai_config(test_data, node, variation_key="v-" + node, version=1, model="gpt-4o-mini", provider="openai")
    add_agent_graph(test_data, GRAPH, "supervisor", {"supervisor": ["weather_agent"], "weather_agent": ["supervisor"]})
    return test_data


@pytest.fixture
def graph(ai_client: LDAIClient, user):
    return ai_client.agent_graph(GRAPH, user)


@contextmanager
def span(provider, scope: str, name: str, attrs: dict[str, Any]) -> Iterator[Any]:
    with provider.get_tracer(scope).start_as_current_span(name, attributes=attrs) as s:
        yield s


def oi(provider, name: str, kind: str, node: str | None) -> Any:
    metadata = {"ls_integration": "langgraph"}
    if node:
        metadata.update({"langgraph_step": 1, "langgraph_node": node, "langgraph_triggers": ["branch:to:" + node]})
    return span(provider, OI, name, {"openinference.span.kind": kind, "metadata": json.dumps(metadata)})


def oi_chat(provider, node: str) -> None:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.token_count.prompt": 11,
        "llm.token_count.completion": 7,
        "llm.token_count.total": 18,
        "metadata": json.dumps({"ls_integration": "langchain_chat_model", "langgraph_node": node}),
    }
    with span(provider, OI, "ChatOpenAI", attrs):
        pass


def openinference_run(provider) -> None:
    with oi(provider, "supervisor_graph", "CHAIN", None):
        with oi(provider, "supervisor", "CHAIN", "supervisor"):
            oi_chat(provider, "supervisor")
        with oi(provider, "weather_agent", "AGENT", "weather_agent"):
            with oi(provider, "weather_agent", "AGENT", "weather_agent"):
                with oi(provider, "agent", "AGENT", "agent"), oi(provider, "call_model", "CHAIN", "agent"):
                    oi_chat(provider, "agent")
                with oi(provider, "tools", "CHAIN", "tools"):
                    tool = {"openinference.span.kind": "TOOL", "tool.name": "get_weather"}
                    with span(provider, OI, "get_weather", tool):
                        pass
                with oi(provider, "agent", "AGENT", "agent"), oi(provider, "call_model", "CHAIN", "agent"):
                    oi_chat(provider, "agent")
        with oi(provider, "supervisor", "CHAIN", "supervisor"):
            oi_chat(provider, "supervisor")


def task(provider, name: str, node: str) -> Any:
    attrs = {
        "traceloop.span.kind": "task",
        "traceloop.entity.name": name,
        "traceloop.association.properties.langgraph_node": node,
        "gen_ai.operation.name": "execute_task",
        "gen_ai.task.name": name,
    }
    return span(provider, TL, "execute_task " + name, attrs)


def tl_chat(provider, n: int) -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.id": "chatcmpl-%024x" % n,
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 7,
        "gen_ai.usage.total_tokens": 18,
    }
    with span(provider, TL, "ChatOpenAI.chat", attrs):
        pass


def goto(provider, target: str) -> None:
    attrs = {
        "gen_ai.operation.name": "goto",
        "langgraph.command.source_node": "supervisor",
        "langgraph.command.goto_node": target,
    }
    with span(provider, TL, "goto " + target, attrs):
        pass


def invoke_agent(provider, name: str) -> Any:
    attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, "gen_ai.provider.name": "langgraph"}
    return span(provider, TL, "invoke_agent " + name, attrs)


def traceloop_run(provider, *, supervisor_again: bool = True) -> None:
    create = {"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "weather_agent"}
    with span(provider, TL, "create_agent weather_agent", create):
        pass  # written when the graph is compiled: no run of the agent
    workflow = {"traceloop.span.kind": "workflow", "gen_ai.operation.name": "invoke_agent"}
    with invoke_agent(provider, "supervisor_graph"), span(provider, TL, "supervisor_graph.workflow", workflow):
        with task(provider, "supervisor", "supervisor"):
            tl_chat(provider, 1)
            goto(provider, "weather_agent")
        with task(provider, "weather_agent", "weather_agent"), invoke_agent(provider, "weather_agent"):
            with task(provider, "weather_agent", "weather_agent"):
                with task(provider, "agent", "agent"), task(provider, "call_model", "agent"):
                    tl_chat(provider, 2)
                with task(provider, "tools", "tools"):
                    tool = {"traceloop.span.kind": "tool", "gen_ai.operation.name": "execute_tool"}
                    with span(provider, TL, "execute_tool get_weather", {**tool, "gen_ai.tool.name": "get_weather"}):
                        pass
                with task(provider, "agent", "agent"), task(provider, "call_model", "agent"):
                    tl_chat(provider, 3)
        if supervisor_again:
            with task(provider, "supervisor", "supervisor"):
                tl_chat(provider, 4)
                goto(provider, "__end__")


@pytest.mark.parametrize("write", [openinference_run, traceloop_run], ids=["openinference", "traceloop"])
def test_supervisor_and_worker_nodes(write, provider, graph, user, ld_client, sink, processor):
    with ai_run(graph, user, tracer_provider=provider) as run:
        write(provider)
    events = flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    assert got["$ld:ai:graph:path"][0]["data"]["path"] == ["supervisor", "weather_agent", "supervisor"]
    handoffs = sorted((e["data"]["sourceKey"], e["data"]["targetKey"]) for e in got["$ld:ai:graph:handoff_success"])
    assert handoffs == [("supervisor", "weather_agent"), ("weather_agent", "supervisor")]
    assert "$ld:ai:graph:handoff_failure" not in got
    assert got["$ld:ai:graph:total_tokens"][0]["metricValue"] == 72
    assert len(got["$ld:ai:graph:invocation_success"]) == 1
    assert {e["data"]["runId"] for e in events} == {run.run_id}
    supervisor = node_events(events, "supervisor")
    worker = node_events(events, "weather_agent")
    assert isinstance(supervisor.pop("duration"), int) and isinstance(worker.pop("duration"), int)
    assert supervisor == {
        "$ld:ai:tokens:total": 36,
        "$ld:ai:tokens:input": 22,
        "$ld:ai:tokens:output": 14,
        "$ld:ai:generation:success": 1,
    }
    assert worker == {
        "$ld:ai:tokens:total": 36,
        "$ld:ai:tokens:input": 22,
        "$ld:ai:tokens:output": 14,
        "tools": ["get_weather"],
        "$ld:ai:generation:success": 1,
    }


def test_a_goto_whose_target_never_ran_is_a_handoff_failure(provider, graph, user, ld_client, sink, processor):
    with ai_run(graph, user, tracer_provider=provider):
        with task(provider, "supervisor", "supervisor"):
            tl_chat(provider, 1)
            goto(provider, "weather_agent")
    flush_events(ld_client, sink, processor)
    got = by_key(graph_events(sink))
    failure = got["$ld:ai:graph:handoff_failure"][0]["data"]
    assert (failure["sourceKey"], failure["targetKey"]) == ("supervisor", "weather_agent")
    assert "$ld:ai:graph:handoff_success" not in got
    assert got["$ld:ai:graph:path"][0]["data"]["path"] == ["supervisor"]
