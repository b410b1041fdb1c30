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
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from otlp_json import FileSpanExporter
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
    assert re.search(r"\$ld:ai:graph:total_tokens\s+126\n", out)  # the unmatched agent's calls included


def test_serve_emits_a_graph_run_from_its_root_marks_graph_attribute():
    """``serve``'s trace buffer makes the same graph run from exported spans (no LaunchDarkly flags needed)."""
    from ldclient import Context

    from ldai_otel.inspect.runs import RecordingClient
    from ldai_otel.model.observation import AGENT, MODEL, Observation
    from ldai_otel.otlp.assembly import RunMark, SpanFacts
    from ldai_otel.rules.emission import emit_segment
    from ldai_otel.serve.traces import TraceBuffer

    nodes = '{"nodes":[{"key":"triage","variationKey":"v-t","version":4,"model":"m","provider":"p"}],"edges":[]}'
    mark = RunMark(run_id="run-1", config_key="g", variation_key="v-g", version=2, service="a", graph=nodes)

    def facts(span_id: int, parent_id: int, obs: Observation | None = None, mark_: object = None) -> SpanFacts:
        f = SpanFacts(0xABC, span_id, parent_id)
        f.service, f.start_ns, f.end_ns, f.mark = "a", span_id * 1_000_000, 50_000_000, mark_
        if obs is not None:
            obs.span_id, obs.parent_id, obs.start_ns, obs.end_ns = span_id, parent_id, f.start_ns, f.end_ns
            f.observation = obs
        return f

    out: list = []
    buf = TraceBuffer(out.extend, decision_wait_s=5.0)
    buf.add(
        [
            facts(1, 0, mark_=mark),
            facts(2, 1, Observation(kind=AGENT, agent_name="triage")),
            facts(3, 2, Observation(kind=MODEL, input_tokens=30, output_tokens=12)),
        ]
    )
    buf.drain()
    (segment,) = out
    segment.binding.info.context = Context.create("service-a")
    client = RecordingClient()
    emit_segment(client, segment)
    tracked = {(key, value) for key, value, _ in client.tracked}
    assert ("$ld:ai:graph:total_tokens", 42) in tracked
    assert ("$ld:ai:graph:invocation_success", 1) in tracked
    assert ("$ld:ai:tokens:total", 42) in tracked  # the triage node run
    path = next(data for key, _, data in client.tracked if key == "$ld:ai:graph:path")
    assert path == {"variationKey": "v-g", "graphKey": "g", "version": 2, "path": ["triage"]}
    node = next(data for key, _, data in client.tracked if key == "$ld:ai:tokens:total")
    assert (node["configKey"], node["graphKey"], node["runId"], node["variationKey"]) == ("triage", "g", "run-1", "v-t")
