"""The graph rules: what a closed run of an agent graph emits (docs/graphs.md).

Shared by the three sources as the rule book is (the processor, ``inspect``,
``serve``: :func:`~ldai_otel.rules.emission.emit_segment` hands a graph run here).

From a graph run's observations this module derives which agent spans are
runs of which node, the path, the handoffs, and the spans of each node.
:func:`emit_graph` sends the graph's events through the graph's own
``AIGraphTracker`` and one node run per node that ran through the node's
``LDAIConfigTracker``. Every per-segment metric is the rule book's
(:mod:`ldai_otel.rules.book`); this module only decides which spans are whose.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ldai.tracker import AIGraphTracker, TokenUsage

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model.attributes import LANGGRAPH_END
from ldai_otel.model.graph_spec import GraphSpec
from ldai_otel.model.observation import AGENT, HANDOFF, Observation
from ldai_otel.model.parents import ancestors, chain
from ldai_otel.model.run import Binding, RunInfo
from ldai_otel.model.segment import Segment, closed_segment
from ldai_otel.rules.book import Summary, summarize
from ldai_otel.rules.trackers import owns_outcome, send

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)

# --- Deriving the graph run from its spans -----------------------------------


@dataclass(slots=True)
class Handoff:
    """One handoff between nodes and whether it happened."""

    source: str
    target: str
    success: bool


@dataclass
class GraphRun:
    """What a graph run's spans say: path, handoffs, and each node's spans."""

    path: list[str] = field(default_factory=list)
    handoffs: list[Handoff] = field(default_factory=list)
    runs: dict[str, list[Observation]] = field(default_factory=dict)
    """Node key -> its agent-run spans, in start order."""
    nodes: dict[str, list[Observation]] = field(default_factory=dict)
    """Node key -> every span under its agent runs (the agent spans included)."""
    unmatched: list[str] = field(default_factory=list)
    """Names of agents that ran but match no node (they count toward the graph's tokens only)."""


def derive(segment: Segment, spec: GraphSpec) -> GraphRun:
    """Which spans ran which node, the path and the handoffs of a closed graph segment.

    Rules, read from the graph run's spans (every source alike):

    - **Node runs.** An agent span whose name maps to a node of the graph (its key,
      or ``ai_run(..., agent_names=...)``) is a run of that node, unless it is inside
      a run of the same node (a LangGraph node and its subgraph are one run). A named
      agent span inside another node's run is a step of that node; one outside any
      node run names an agent the graph does not know (its tokens count toward the
      graph's only), unless it is around node runs (the graph itself).
    - **A node's spans** are every span whose nearest node run (itself or an
      ancestor) is that node's.
    - **Path**: the nodes in the order their runs started, a node repeated only when
      another ran in between.
    - **Handoffs**: one per handoff span (``END`` excluded): its source is the named
      agent's node, else the node it ran in; its target the named node, else the next
      node to start, else the source's only outgoing edge. It succeeded when its target
      ran after it and the span did not fail. A move along the path no handoff span
      explains (LangGraph's static edges) is a successful handoff.
    """
    run = GraphRun()
    observations = sorted(segment.observations, key=lambda o: (o.start_ns, o.end_ns))
    parents = segment.parents
    run_node: dict[int, str] = {}  # span id of an agent run -> its node key
    unmatched: list[Observation] = []
    for obs in observations:
        if obs.kind != AGENT or not obs.agent_name:
            continue
        key = spec.node_key(obs.agent_name)
        outer = _nearest(obs.parent_id, run_node, parents)
        if key is None:
            # Inside a node's run it is a step of that node (a ReAct
            # subgraph's own "agent" and "tools" nodes); else an agent the
            # graph does not know.
            if outer is None:
                unmatched.append(obs)
            continue
        # A span of a node inside that node's own run (two nested agent
        # spans, a LangGraph node and its subgraph) is the same run.
        if outer == key:
            continue
        run_node[obs.span_id] = key
        run.runs.setdefault(key, []).append(obs)
        if not run.path or run.path[-1] != key:
            run.path.append(key)
    for obs in observations:
        key = _nearest(obs.span_id, run_node, parents)
        if key is not None:
            run.nodes.setdefault(key, []).append(obs)
    # A named span around node runs is the graph itself (LangGraph's compiled
    # graph, a workflow), not an agent beside them.
    around = _ancestors(run_node, parents)
    for obs in unmatched:
        if obs.span_id not in around and obs.agent_name not in run.unmatched:
            run.unmatched.append(obs.agent_name or "")
    starts = sorted((o.start_ns, k) for k, runs in run.runs.items() for o in runs)
    handoffs = [o for o in observations if o.kind == HANDOFF and o.handoff_to != LANGGRAPH_END]
    for obs in handoffs:
        source = spec.node_key(obs.handoff_from) or _nearest(obs.parent_id, run_node, parents) or ""
        target = spec.node_key(obs.handoff_to) or obs.handoff_to
        if target is None:
            # Traceloop writes no target: the next agent to start took over.
            target = next((k for start, k in starts if start >= obs.start_ns and k != source), None)
        if target is None:
            outgoing = [t for s, t in spec.edges if s == source]
            target = outgoing[0] if len(outgoing) == 1 else ""
        ran = any(start >= obs.start_ns and k == target for start, k in starts)
        run.handoffs.append(Handoff(source, target, ran and not obs.error))
    # A move from one node to the next that no handoff span explains (LangGraph's
    # static edges, or no handoff spans at all) is a handoff that happened.
    explained = Counter((h.source, h.target) for h in run.handoffs)
    for move in zip(run.path, run.path[1:], strict=False):
        if explained[move] > 0:
            explained[move] -= 1
        else:
            run.handoffs.append(Handoff(move[0], move[1], True))
    return run


def _ancestors(span_ids: Mapping[int, str], parents: Mapping[int, int]) -> set[int]:
    """Every ancestor of the given spans."""
    found: set[int] = set()
    for span_id in span_ids:
        for parent_id in ancestors(span_id, parents):
            if parent_id in found:
                break  # the rest of this chain is in already
            found.add(parent_id)
    return found


def _nearest(span_id: int, run_node: Mapping[int, str], parents: Mapping[int, int]) -> str | None:
    """The node of the nearest agent run at or above ``span_id``."""
    for candidate in chain(span_id, parents):
        key = run_node.get(candidate)
        if key is not None:
            return key
    return None


def node_segment(segment: Segment, info: RunInfo, runs: list[Observation], spans: list[Observation]) -> Segment:
    """A closed segment of one node's spans, for the rule book: its agent runs give duration and outcome.

    The node run has its graph segment's role (``model.roles``): a node owns its outcome where the graph does.
    """
    return closed_segment(
        Binding(segment.binding.run_id, info, segment.role),
        segment.role,
        spans,
        segment.parents,
        runs[0],
        root_error=any(o.error for o in runs),
        outcome_deferred=segment.outcome_deferred,
    )


def describe(segment: Segment, spec: GraphSpec) -> list[str]:
    """The graph run as ``ldai-otel inspect`` prints it: path, handoffs, node runs, unmatched agents."""
    run = derive(segment, spec)
    lines = ["agent graph %s: %d node(s), %d edge(s)" % (spec.key, len(spec.nodes), len(spec.edges))]
    lines.append("  path: %s" % (" -> ".join(run.path) or "(no agent span matched a node)"))
    for handoff in run.handoffs:
        outcome = "success" if handoff.success else "failure"
        lines.append("  handoff %s -> %s: %s" % (handoff.source or "?", handoff.target or "?", outcome))
    for key, runs in run.runs.items():
        spans = run.nodes.get(key, [])
        lines.append("  node %s: %d agent run(s), %d GenAI span(s) under them" % (key, len(runs), len(spans)))
    for name in run.unmatched:
        lines.append(
            "  note: agent %r matches no node of the graph: its tokens count toward the graph's only "
            "(map it with ai_run(..., agent_names={%r: NODE_KEY}))" % (name, name)
        )
    return lines


def event_note(data: Mapping[str, Any]) -> str:
    """What ``inspect`` prints after a graph run's event: its node, path or handoff."""
    if "path" in data:
        return "  path " + " -> ".join(str(p) for p in data["path"])
    if "sourceKey" in data:
        return "  %s -> %s" % (data["sourceKey"], data.get("targetKey"))
    if "configKey" in data:
        return "  node " + str(data["configKey"])
    return ""


# --- Emission -------------------------------------------------------------------


def emit_graph(
    ld_client: Any, segment: Segment, emit_node: Callable[[Any, Segment], Summary]
) -> tuple[Summary, GraphRun | None]:
    """Emits a closed graph segment: the graph's events, then one node run per node that ran.

    Rule: the graph's own events (:func:`_graph_events`) go through its
    ``AIGraphTracker``, only from the segment that owns the run's outcome. Each node
    that ran (:func:`derive`) sends one node run through the node's own
    ``LDAIConfigTracker``, by the rule book over that node's spans: its agent runs
    give the duration and outcome, and the node's role is the segment's, so a resumed
    segment sends each node's tokens, time to first token and tool calls only.

    Args:
        ld_client: The ``ldclient.LDClient`` events go through.
        segment: A closed segment whose binding carries a :class:`GraphSpec`.
        emit_node: Emits one node's segment (``rules.emission.emit_segment``).

    Returns:
        The whole graph's summary and the derived graph run (None when deriving failed).
    """
    info = segment.binding.info
    spec = info.graph
    assert spec is not None
    summary = summarize(segment)
    try:
        graph_run: GraphRun | None = derive(segment, spec)
    except Exception:
        _errors.exception("ldai-otel: reading the agents of graph %s failed; it emits its totals only", spec.key)
        graph_run = None
    if owns_outcome(segment):
        tracker = spec.tracker
        if tracker is None:
            tracker = AIGraphTracker(ld_client, spec.variation_key, spec.key, spec.version, info.context)
        _graph_events(tracker, summary, graph_run)
    if graph_run is not None:
        for key, runs in graph_run.runs.items():
            node_info = spec.nodes.get(key)
            if node_info is None:  # mapped by name to a key the graph does not have
                continue
            try:
                emit_node(ld_client, node_segment(segment, node_info, runs, graph_run.nodes.get(key, [])))
            except Exception:
                _errors.exception("ldai-otel: emitting node %s of graph %s failed", key, spec.key)
    return summary, graph_run


def _graph_events(tracker: Any, summary: Summary, graph_run: GraphRun | None) -> None:
    """The graph's own events, through its ``AIGraphTracker``.

    Rule: sent only by the segment that owns the run's outcome
    (:func:`~ldai_otel.rules.trackers.owns_outcome`): the graph run's duration,
    success or failure and total tokens, as the rule book computes them over
    every span of the run; the path (the nodes in the order their agent runs
    started, a node repeated only when another ran in between); and each
    handoff, a success when its target node ran after it and the handoff span
    did not fail. A move along the path that no handoff span explains is a
    successful handoff.
    """
    if summary.duration_ms is not None:
        send("duration", tracker.track_duration, summary.duration_ms, run="graph run")
    if summary.success is not None:
        track = tracker.track_invocation_success if summary.success else tracker.track_invocation_failure
        send("the outcome", track, run="graph run")
    if summary.has_tokens:
        usage = TokenUsage(total=summary.total_tokens, input=summary.input_tokens, output=summary.output_tokens)
        send("total tokens", tracker.track_total_tokens, usage, run="graph run")
    if graph_run is None:
        return
    if graph_run.path:
        send("the path", tracker.track_path, list(graph_run.path), run="graph run")
    for handoff in graph_run.handoffs:
        track = tracker.track_handoff_success if handoff.success else tracker.track_handoff_failure
        send("a handoff", track, handoff.source, handoff.target, run="graph run")
