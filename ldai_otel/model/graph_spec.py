"""An agent graph as a run needs it: nodes, edges, agent names (docs/graphs.md).

A data type of the run model: ``ai_run(graph, ...)`` builds one from ldai's
``AgentGraphDefinition``; ``inspect`` and ``serve`` read one back from the
``ld.ai_config.graph`` attribute of the run's span.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model.run import RunInfo

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)

_MAX_NODES = 256
"""Most nodes read from a graph definition (LaunchDarkly's graphs have a handful)."""


@dataclass(slots=True)
class GraphSpec:
    """An agent graph as a run needs it: identity, nodes, edges, names."""

    key: str
    variation_key: str
    version: int
    nodes: dict[str, RunInfo]
    """Node key -> the node's agent config facts (its ``graph_key`` set)."""
    edges: tuple[tuple[str, str], ...] = ()
    agent_names: dict[str, str] = field(default_factory=dict)
    """Framework agent name -> node key, for agents not named after their node."""
    tracker: Any = None
    """The graph's own ``AIGraphTracker`` (from ``create_tracker()``); None when read from spans."""

    def node_key(self, name: str | None) -> str | None:
        """The node an agent of this name runs, or None."""
        if not name:
            return None
        mapped = self.agent_names.get(name)
        if mapped is not None:
            return mapped
        return name if name in self.nodes else None

    def to_json(self) -> str:
        """The graph as the ``ld.ai_config.graph`` span attribute (see ``spec_from_json``)."""
        nodes = [
            {
                "key": k,
                "variationKey": n.variation_key,
                "version": n.version,
                "model": n.model_name,
                "provider": n.provider_name,
            }
            for k, n in self.nodes.items()
        ]
        data = {"nodes": nodes, "edges": [list(e) for e in self.edges], "agentNames": self.agent_names}
        return json.dumps(data, separators=(",", ":"))


def spec_from_json(text: str, key: str, variation_key: str, version: int, context: Any) -> GraphSpec | None:
    """The graph an ``ld.ai_config.graph`` attribute describes; None when it is not one."""
    try:
        data = json.loads(text)
        nodes: dict[str, RunInfo] = {}
        for node in data["nodes"][:_MAX_NODES]:
            node_key = str(node["key"])
            nodes[node_key] = RunInfo(
                node_key,
                str(node.get("variationKey") or ""),
                int(node.get("version") or 0),
                context,
                str(node.get("model") or ""),
                str(node.get("provider") or ""),
                key,
            )
        edges = tuple((str(s), str(t)) for s, t in data.get("edges", ())[:_MAX_NODES])
        names = {str(k): str(v) for k, v in dict(data.get("agentNames") or {}).items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        _errors.warning("ldai-otel: ignoring a malformed %s attribute of graph %s", "ld.ai_config.graph", key)
        return None
    return GraphSpec(key, variation_key, version, nodes, edges, names)


_GraphClass: type | None
try:
    from ldai.agent_graph import AgentGraphDefinition

    _GraphClass = AgentGraphDefinition
except ImportError:  # an ldai without agent graphs
    _GraphClass = None


def is_agent_graph(config: Any) -> bool:
    """Whether ``config`` is an ``ldai`` ``AgentGraphDefinition``."""
    return _GraphClass is not None and isinstance(config, _GraphClass)


def graph_run_info(
    graph: Any,
    context: Any,
    agent_names: Mapping[str, str] | None,
    read_node: Callable[[Any, Any], RunInfo],
) -> RunInfo:
    """The run facts of one run of ``graph``, with its tracker made once for the run.

    Args:
        graph: An ``AgentGraphDefinition``.
        context: The context it was evaluated for.
        agent_names: Framework agent names -> node keys.
        read_node: Reads a node's agent config facts (``model.config_facts.run_info_from_config``).
    """
    tracker = graph.create_tracker()
    key = str(getattr(tracker, "graph_key", "") or "")
    variation_key = str(getattr(tracker, "_variation_key", "") or "")
    version = getattr(tracker, "_version", 0)
    nodes: dict[str, RunInfo] = {}
    edges: list[tuple[str, str]] = []
    root = graph.root() if graph.is_enabled() else None
    queue = [root] if root is not None else []
    while queue and len(nodes) < _MAX_NODES:
        node = queue.pop(0)
        node_key = node.get_key()
        if node_key in nodes:
            continue
        try:
            nodes[node_key] = read_node(node.get_config(), context)
            for edge in node.get_edges():
                edges.append((edge.source_config, edge.target_config))
            queue.extend(graph.get_child_nodes(node_key))
        except Exception:  # one unreadable node: its agents count toward the graph only
            _errors.exception("ldai-otel: reading node %s of graph %s failed; it gets no node runs", node_key, key)
    spec = GraphSpec(
        key,
        variation_key,
        version if isinstance(version, int) else 0,
        nodes,
        tuple(edges),
        dict(agent_names or {}),
        tracker,
    )
    return RunInfo(key, variation_key, spec.version, context, graph=spec)
