"""``ldai-otel inspect`` on an agent graph run (issue 11): the same graph rules from an OTLP file.

The graph run of ``test_graphs`` (OpenInference openai-agents span shapes) is
written by the real OTLP JSON file exporter next to the processor; inspect, run
as the CLI, prints the graph run, its path and handoffs, and exactly the events
the processor sent (graph and node runs).
"""

from __future__ import annotations

import io
import re

import test_graphs
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from test_graphs import NAMES, oi_handoff_run
from test_inspect import inspect_cli

from ldai_otel import ai_run
from ldai_otel.testing import flush_events

test_data = test_graphs.test_data  # the graph's flags and its nodes' (fixtures)
graph = test_graphs.graph
EVENT = re.compile(r"^      (\$ld:ai:\S+)\s+(\d+)(.*)$")


def test_inspect_shows_the_graph_run_and_predicts_every_event_sent(
    make_provider,
    graph,
    user,
    ld_client,
    sink,
    tmp_path,
):
    provider, processor = make_provider()
    stream = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    with ai_run(graph, user, tracer_provider=provider, agent_names=NAMES) as run:
        oi_handoff_run(provider, specialist_runs=True)
    flush_events(ld_client, sink, processor)
    sent = sorted(
        (e["key"], e["metricValue"], e["data"].get("configKey", ""))
        for e in sink.events()
        if e.get("kind") == "custom" and "graphKey" in e.get("data", {}) and not e["key"].endswith("duration:total")
    )
    path = tmp_path / "graph.jsonl"
    path.write_text(stream.getvalue())

    result = inspect_cli(str(path))

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "  run %s  config weather-graph" % run.run_id in out
    assert "    agent graph weather-graph: 2 node(s), 1 edge(s)\n" in out
    assert "      path: triage -> specialist\n" in out
    assert "      handoff triage -> specialist: success\n" in out
    assert "      node triage: 1 agent run(s)" in out and "      node specialist: 1 agent run(s)" in out
    printed = []
    for line in out.splitlines():
        match = EVENT.match(line)
        if match and "duration:total" not in match.group(1):
            note = match.group(3)
            node = note.split("  node ", 1)[1] if "  node " in note else ""
            printed.append((match.group(1), int(match.group(2)), node))
    assert sorted(printed) == sent
    assert "$ld:ai:graph:path" in out and "  path triage -> specialist" in out
    assert "$ld:ai:graph:handoff_success" in out and "  triage -> specialist" in out


def test_inspect_reports_an_agent_no_node_matches(make_provider, graph, user, ld_client, sink, tmp_path):
    provider, processor = make_provider()
    stream = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
    with ai_run(graph, user, tracer_provider=provider, agent_names={"triage_agent": "triage"}):
        oi_handoff_run(provider)
    flush_events(ld_client, sink, processor)
    path = tmp_path / "graph.jsonl"
    path.write_text(stream.getvalue())

    out = inspect_cli(str(path)).stdout

    assert "note: agent 'weather_specialist' matches no node of the graph" in out
    assert "agent_names={'weather_specialist': NODE_KEY}" in out
    assert "$ld:ai:graph:total_tokens  126" in out.replace(" " * 10, "  ") or re.search(
        r"\$ld:ai:graph:total_tokens\s+126", out
    )
