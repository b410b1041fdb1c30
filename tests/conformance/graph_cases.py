"""Agent graphs (issue 11): what ``ai_run(graph, context)`` sends for a real framework's run.

A LaunchDarkly agent graph (TestData flags: the graph and one AI Config per node)
is evaluated with the real ``LDAIClient.agent_graph``; the framework runs inside
``ai_run(graph, user)``; the graph's events (``$ld:ai:graph:*``, sent by the
graph's own ``AIGraphTracker``) and each node run's events (``LDAIConfigTracker``
with ``graphKey``, runId = the trace id) are asserted as they reach the sink.
"""

from __future__ import annotations

from typing import Any

from cases import INPUT, OUTPUT, TOTAL, expect

GRAPH_DURATION = "$ld:ai:graph:duration:total"
GRAPH_SUCCESS = "$ld:ai:graph:invocation_success"
GRAPH_FAILURE = "$ld:ai:graph:invocation_failure"
GRAPH_TOKENS = "$ld:ai:graph:total_tokens"
GRAPH_PATH = "$ld:ai:graph:path"
HANDOFF_SUCCESS = "$ld:ai:graph:handoff_success"
HANDOFF_FAILURE = "$ld:ai:graph:handoff_failure"
GRAPH_VARIATION = "v-graph"
GRAPH_VERSION = 3
NODE_MODEL = "gpt-4o-mini"
NODE_PROVIDER = "openai"


def add_graph(stack: Any, key: str, root: str, edges: dict[str, list[str]]) -> Any:
    """Adds the graph and its nodes' AI Configs to the session's TestData; returns the evaluated graph."""
    from ldai import LDAIClient

    from ldai_otel.testing import add_agent_graph, add_ai_config

    nodes = {root} | set(edges) | {t for targets in edges.values() for t in targets}
    for node in sorted(nodes):
        add_ai_config(
            stack.test_data, node, variation_key="v-" + node, version=7, model=NODE_MODEL, provider=NODE_PROVIDER
        )
    add_agent_graph(stack.test_data, key, root, edges, variation_key=GRAPH_VARIATION, version=GRAPH_VERSION)
    graph = LDAIClient(stack.ld_client).agent_graph(key, stack.user)
    assert graph.is_enabled()
    return graph


def collect(stack: Any, run: Any) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """(graph event key -> events, node key -> its run's events), after a flush."""
    from ldai_otel.testing import flush_events

    node_events = flush_events(stack.ld_client, stack.sink, stack.processor)
    graph: dict[str, list[dict[str, Any]]] = {}
    for event in stack.sink.events():
        if event.get("kind") == "custom" and str(event.get("key", "")).startswith("$ld:ai:graph:"):
            graph.setdefault(event["key"], []).append(event)
    nodes: dict[str, list[dict[str, Any]]] = {}
    for event in node_events:
        if event["data"]["runId"] == run.run_id:
            nodes.setdefault(event["data"]["configKey"], []).append(event)
    return graph, nodes


def assert_graph(
    graph: dict[str, list[dict[str, Any]]],
    key: str,
    *,
    success: bool,
    total_tokens: int | None,
    path: list[str],
    handoffs: list[tuple[str, str, bool]],
) -> None:
    """The graph's events: each once (handoffs once per handoff), with LaunchDarkly's payloads."""
    data = {"variationKey": GRAPH_VARIATION, "graphKey": key, "version": GRAPH_VERSION}
    expected_keys = {GRAPH_DURATION, GRAPH_SUCCESS if success else GRAPH_FAILURE, GRAPH_PATH}
    if total_tokens is not None:
        expected_keys.add(GRAPH_TOKENS)
    if any(ok for _, _, ok in handoffs):
        expected_keys.add(HANDOFF_SUCCESS)
    if any(not ok for _, _, ok in handoffs):
        expected_keys.add(HANDOFF_FAILURE)
    assert set(graph) == expected_keys, graph
    for name in expected_keys - {HANDOFF_SUCCESS, HANDOFF_FAILURE}:
        assert len(graph[name]) == 1, graph[name]
        assert {k: graph[name][0]["data"][k] for k in data} == data
    assert isinstance(graph[GRAPH_DURATION][0]["metricValue"], int)
    if total_tokens is not None:
        assert graph[GRAPH_TOKENS][0]["metricValue"] == total_tokens, graph[GRAPH_TOKENS]
    assert graph[GRAPH_PATH][0]["data"] == {**data, "path": path}, graph[GRAPH_PATH]
    seen = [
        (e["data"]["sourceKey"], e["data"]["targetKey"], name == HANDOFF_SUCCESS)
        for name in (HANDOFF_SUCCESS, HANDOFF_FAILURE)
        for e in graph.get(name, [])
    ]
    assert sorted(seen) == sorted(handoffs), seen


def assert_node(
    events: list[dict[str, Any]],
    run: Any,
    graph_key: str,
    node: str,
    *,
    tokens: dict[str, int] | None,
    success: bool,
    tool_calls: tuple[str, ...] = (),
) -> None:
    """One node run's events (:func:`cases.expect`): its own AI Config, the graph's key, the trace's runId."""
    expect(
        events,
        run,
        tokens=tokens,
        success=success,
        tool_calls=tool_calls,
        model=NODE_MODEL,
        provider=NODE_PROVIDER,
        config_key=node,
        variation_key="v-" + node,
        version=7,
        graph_key=graph_key,
    )


def usage(per_call: dict[str, int], calls: int) -> dict[str, int]:
    return {k: v * calls for k, v in per_call.items() if k in (INPUT, OUTPUT, TOTAL)}


def sent_and_inspected(stack: Any, run: Any, tmp_path: Any) -> tuple[list[Any], list[Any], list[str]]:
    """The graph run's events as sent, as ``ldai-otel inspect`` predicts them from the run's spans
    in an OTLP JSON file (``(key, metricValue, data)`` each), and inspect's graph lines."""
    from ldclient import Context
    from otlp_file import write_otlp_json
    from stack import USER_KEY

    from ldai_otel.inspect.reading import read_file
    from ldai_otel.inspect.runs import RecordingClient, build_runs, emit
    from ldai_otel.rules.graphs import describe

    graph, nodes = collect(stack, run)
    sent = [(e["key"], e["metricValue"], e["data"]) for events in (*graph.values(), *nodes.values()) for e in events]
    path = write_otlp_json(stack.spans(run), tmp_path / "spans.jsonl")
    reading = read_file(str(path))
    assert len(reading.traces) == 1 and reading.bad_lines == 0
    reports, outside = build_runs(next(iter(reading.traces.values())), Context.create(USER_KEY))
    assert len(reports) == 1 and not outside
    client = RecordingClient()
    emit(reports[0], client)
    spec = reports[0].segment.binding.info.graph
    assert spec is not None
    return sent, client.tracked, describe(reports[0].segment, spec)
