"""Trace assembly: runs found through parent chains in ended spans (docs/design.md, "Membership").

Readers that see only ended spans (``ldai-otel inspect``, ``ldai-otel serve``)
cannot use the OTel context that tells the processor which run a span is in.
They find membership through parent span ids instead: a run's root is a span
carrying the ``ld.ai_config.*`` identity (a :class:`RunMark`), and a span
belongs to the run of its nearest marked ancestor-or-self, across services;
inner runs win, as in process. Spans under a root written by LaunchDarkly's
own AI SDKs (:data:`LD_TRACKED`) belong to no run of ours: those SDKs send
their own events.

This module holds what both readers share: the facts kept of a span
(:class:`SpanFacts`, never the span), the resolution of a span's run
(:func:`resolve`), and the making of a :class:`~ldai_otel.model.segment.Segment` that
``rules.emission.emit_segment`` emits through the rule book. Inspect groups the
result per service (what each process's processor sends); serve buffers
traces as they arrive (``serve.traces.TraceBuffer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ldai_otel.model.attributes import ENTRY_CONTINUATION
from ldai_otel.model.contexts import ServiceContexts as ServiceContexts  # run_context's fallback, re-exported
from ldai_otel.model.observation import Observation
from ldai_otel.model.parents import MAX_DEPTH
from ldai_otel.model.roles import AI_RUN_SCOPE, CONTINUATION, entry_of
from ldai_otel.model.run import Binding, RunInfo
from ldai_otel.model.segment import Segment, closed_segment, split_at_close


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


LD_TRACKED: Any = _Sentinel("LD_TRACKED")
"""Mark of a span written by LaunchDarkly's own AI SDKs (``launchdarkly.run.id``)."""
PENDING: Any = _Sentinel("PENDING")
"""A span's run is not known yet: an ancestor in its chain has not arrived."""


@dataclass(slots=True, frozen=True)
class RunMark:
    """The run identity a root span carries (``ld.ai_config.*`` attributes)."""

    run_id: str
    config_key: str
    variation_key: str = ""
    version: int = 0
    model_name: str = ""
    provider_name: str = ""
    context_kinds: tuple[str, ...] = ()
    context_keys: tuple[str, ...] = ()
    """The LaunchDarkly context's kinds and keys (several for a multi-context), when recorded."""
    emitted_in_process: bool = False
    """An ``LDAISpanProcessor`` stamped it: that process emitted its share of the run."""
    service: str = ""
    """``service.name`` of the span that carries it."""
    graph: str = ""
    """An agent graph's nodes and edges (``ld.ai_config.graph`` JSON) when the run is a graph run."""
    entry: str = ""
    """How the span entered the run (``ld.ai_config.entry``: ``ai_run``, ``resumed``, ``resumed_plain``), if written."""

    @property
    def key(self) -> tuple[str, str]:
        """The run's identity: (runId, config key)."""
        return (self.run_id, self.config_key)


class SpanFacts:
    """What the run model needs of one ended span: ids, timing, status, mark, observation."""

    __slots__ = (
        "trace_id",
        "span_id",
        "parent_id",
        "name",
        "scope",
        "service",
        "start_ns",
        "end_ns",
        "error",
        "mark",
        "observation",
    )

    def __init__(self, trace_id: int, span_id: int, parent_id: int):
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = ""
        self.scope = ""
        self.service = ""
        self.start_ns = 0
        self.end_ns = 0
        self.error = False
        self.mark: Any = None
        """A :class:`RunMark`, :data:`LD_TRACKED`, or None."""
        self.observation: Observation | None = None


def resolve(
    span_id: int,
    parents: Mapping[int, int],
    marks: Mapping[int, Any],
    memo: dict[int, Any],
) -> Any:
    """The mark of a span's nearest marked ancestor-or-self.

    The walk of :func:`ldai_otel.model.parents.chain`, with its bound
    (:data:`~ldai_otel.model.parents.MAX_DEPTH`), plus what a reader of ended
    spans needs: a parent not known yet is :data:`PENDING`, and every span
    passed on the way shares the result through ``memo``.

    Args:
        span_id: A span in ``parents``.
        parents: span id -> parent span id (0 for a trace root) of every span known in the trace.
        marks: span id -> mark, for the marked spans among them.
        memo: Results of this pass, shared between calls (cleared when spans arrive).

    Returns:
        A :class:`RunMark`, :data:`LD_TRACKED`, None (the chain reaches the
        trace's root unmarked), or :data:`PENDING` (an ancestor is not known).
    """
    path = []
    current = span_id
    result: Any = None
    for _ in range(MAX_DEPTH):
        if current in memo:
            result = memo[current]
            break
        mark = marks.get(current)
        if mark is not None:
            result = mark
            break
        parent = parents.get(current)
        if parent is None:
            result = PENDING
            break
        path.append(current)
        if not parent:
            result = None
            break
        current = parent
    for visited in path:
        memo[visited] = result
    return result


def parent_run(facts: SpanFacts, parents: Mapping[int, int], marks: Mapping[int, Any], memo: dict[int, Any]) -> Any:
    """The run a span's parent is in (:func:`resolve` of the parent; None for a trace root)."""
    if not facts.parent_id:
        return None
    return resolve(facts.parent_id, parents, marks, memo)


def is_run_root(facts: SpanFacts, parents: Mapping[int, int], marks: Mapping[int, Any], memo: dict[int, Any]) -> bool:
    """Whether a marked span opens its run: its parent is not in the same run.

    A span stamped with the identity of the run it is already in (the
    processor stamps GenAI spans too) is a member, not a second root.
    """
    mark = facts.mark
    if not isinstance(mark, RunMark):
        return False
    above = parent_run(facts, parents, marks, memo)
    return not (isinstance(above, RunMark) and above.key == mark.key)


def run_info(mark: RunMark, context: Any, members: Sequence[SpanFacts] = ()) -> RunInfo:
    """The run's AI Config as its marks say (model and provider from any member's mark)."""
    model = mark.model_name
    provider = mark.provider_name
    graph_json = mark.graph  # on the ai_run span only, not on the GenAI spans the processor stamps
    for facts in members:
        other = facts.mark
        if isinstance(other, RunMark):
            model = model or other.model_name
            provider = provider or other.provider_name
            graph_json = graph_json or other.graph
    graph = None
    if graph_json:
        from ldai_otel.model.graph_spec import spec_from_json

        graph = spec_from_json(graph_json, mark.config_key, mark.variation_key, mark.version, context)
    return RunInfo(
        config_key=mark.config_key,
        variation_key=mark.variation_key,
        version=mark.version,
        context=context,
        model_name=model,
        provider_name=provider,
        graph=graph,
    )


def root_entry(root: SpanFacts) -> str:
    """How a run's root span entered the run (``model.roles.entry_of`` of its mark and scope)."""
    mark = root.mark
    return entry_of(mark.entry if isinstance(mark, RunMark) else "", root.scope)


def form_segments(
    info: RunInfo,
    run_id: str,
    role: str,
    members: Sequence[SpanFacts],
    root: SpanFacts | None,
    parents: Mapping[int, int] | None = None,
    timing: Sequence[SpanFacts] = (),
) -> list[tuple[Segment, list[SpanFacts]]]:
    """The closed segments a run's ended members form, each with its members; the one assembler.

    The first segment has ``role`` and the root's duration and outcome. A member
    the processor wrote as having entered a later segment of the run
    (``ld.ai_config.entry`` = ``continuation``), and the spans under it, are
    continuations (what they observed only); those late spans are cut among
    themselves by the processor's closing rule (``model.segment.split_at_close``).

    Args:
        info: The run's AI Config.
        run_id: The runId.
        role: The first segment's role (``model.roles.decide_role``).
        members: The run's spans here (GenAI and marked ones, or every one).
        root: The span that opened the run here, or None.
        parents: Span id -> parent id for the rule book's chains; default: the members'.
        timing: Further spans of the run that only keep a segment open (plain spans
            ``inspect`` does not keep whole); they are in no returned member list.
    """
    binding = Binding.create(run_id, info, role)
    early, late = _late_members(members, root, timing)
    timing_ids = {id(f) for f in timing}
    groups = [early] + [[f for f in group if id(f) not in timing_ids] for group in split_at_close(late)]
    formed = []
    for i, group in enumerate(groups):
        if not group and (i or len(groups) > 1):
            continue  # plain spans only (or no span before the late ones): it would emit nothing
        links = parents if parents is not None else {f.span_id: f.parent_id for f in group}
        observations = [f.observation for f in group if f.observation is not None]
        if i == 0:
            segment = closed_segment(binding, role, observations, links, root)
        else:
            segment = closed_segment(binding, CONTINUATION, observations, links)
        formed.append((segment, group))
    return formed


def _late_members(
    members: Sequence[SpanFacts], root: SpanFacts | None, timing: Sequence[SpanFacts]
) -> tuple[list[SpanFacts], list[SpanFacts]]:
    """The members of the first segment, and the late spans (timing spans among them) under a continuation entry."""
    openers = {
        f.span_id
        for f in members
        if f is not root and isinstance(f.mark, RunMark) and f.mark.entry == ENTRY_CONTINUATION
    }
    if not openers:
        return list(members), []
    links = {f.span_id: f.parent_id for f in members}
    links.update((f.span_id, f.parent_id) for f in timing)
    memo: dict[int, bool] = {}

    def is_late(span_id: int) -> bool:
        path = []
        late = False
        for _ in range(MAX_DEPTH):
            if span_id in memo:
                late = memo[span_id]
                break
            if span_id in openers:
                late = True
                break
            path.append(span_id)
            parent = links.get(span_id, 0)
            if not parent:
                break
            span_id = parent
        for visited in path:
            memo[visited] = late
        return late

    early = [f for f in members if not is_late(f.span_id)]
    late = [f for f in members if is_late(f.span_id)] + [f for f in timing if is_late(f.span_id)]
    return early, late


def pick_root(members: Sequence[SpanFacts]) -> SpanFacts | None:
    """The span that opened a per-service segment: its parent is not a member; ``ai_run``'s first."""
    ids = {f.span_id for f in members}
    roots = sorted(
        (f for f in members if f.parent_id not in ids),
        key=lambda f: (f.scope != AI_RUN_SCOPE, f.start_ns),
    )
    return roots[0] if roots else None


def run_context(mark: RunMark, service: str, fallback: ServiceContexts) -> Any:
    """The root's own context (``ld.ai_config.context.kind``/``.key``) when valid, else the service's."""
    if mark.context_keys:
        from ldclient import Context

        pairs = zip(mark.context_kinds, mark.context_keys, strict=True)
        parts = [Context.builder(key).kind(kind).build() for kind, key in pairs]
        context = parts[0] if len(parts) == 1 else Context.create_multi(*parts)
        if context.valid:
            return context
    return fallback.get(service)
