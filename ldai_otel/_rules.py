"""The rule book: what a closed segment emits (DESIGN.md section 4).

The only place the metric rules are written. Every source of spans (the
processor, ``ldai-otel inspect``) turns what it receives into a
:class:`~ldai_otel._runs.Segment` of :class:`~ldai_otel._dialects.Observation`
and calls :func:`summarize`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ldai_otel._dialects import AGENT, MODEL, TOOL, Observation
from ldai_otel._runs import RESUMED_PLAIN, Segment


@dataclass
class Summary:
    """The metrics one closed segment emits."""

    duration_ms: int | None = None
    success: bool | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    has_tokens: bool = False
    time_to_first_token_ms: int | None = None
    tool_calls: list[str] = field(default_factory=list)
    model_name: str = ""
    provider_name: str = ""


def summarize(segment: Segment) -> Summary:
    """Applies the metric rules (DESIGN.md section 4) to a closed segment."""
    summary = Summary()
    observations = sorted(segment.observations, key=lambda o: (o.start_ns, o.end_ns))
    by_span = {o.span_id: o for o in observations}
    parents = segment.parents

    def ancestor_of_kind(obs: Observation, kinds: frozenset) -> Observation | None:
        """Nearest ancestor within the segment whose observation is of ``kinds``."""
        seen = 0
        parent_id = obs.parent_id
        while parent_id and seen < 64:  # bounded: a corrupt parent map cannot loop
            parent = by_span.get(parent_id)
            if parent is not None and parent.kind in kinds:
                return parent
            parent_id = parents.get(parent_id, 0)
            seen += 1
        return None

    model_kind = frozenset({MODEL})
    genai_kinds = frozenset({MODEL, TOOL, AGENT})

    # Nested model-call spans are one call wrapped by two instrumentations:
    # group them under their outermost model-call span and count once.
    groups: dict[int, list[Observation]] = {}
    for obs in observations:
        if obs.kind != MODEL:
            continue
        top = obs
        while True:
            outer = ancestor_of_kind(top, model_kind)
            if outer is None:
                break
            top = outer
        groups.setdefault(top.span_id, []).append(obs)

    calls: list[tuple[Observation, Observation]] = []  # (outermost, the one with usage)
    for top_id, members in groups.items():
        outermost = by_span[top_id]
        with_usage = next((o for o in members if o.has_usage), outermost)
        calls.append((outermost, with_usage))
    calls.sort(key=lambda c: (c[0].start_ns, c[0].end_ns))

    model_usage = [u for _, u in calls if u.has_usage]
    if model_usage:
        _add_tokens(summary, model_usage)
    else:
        # Agent spans repeat their children's usage: only without any model
        # usage, and then only the outermost agent spans.
        agents = [
            o
            for o in observations
            if o.kind == AGENT and o.has_usage and ancestor_of_kind(o, frozenset({AGENT})) is None
        ]
        _add_tokens(summary, agents)

    for outer, with_usage in calls:
        ttft = with_usage.time_to_first_token_ms
        if ttft is None:
            ttft = next(
                (o.time_to_first_token_ms for o in groups[outer.span_id] if o.time_to_first_token_ms is not None),
                None,
            )
        if ttft is not None:
            summary.time_to_first_token_ms = int(round(ttft))
            break

    tools = [o.tool_name for o in observations if o.kind == TOOL and o.tool_name]
    if tools:
        summary.tool_calls = tools
    else:
        # One call's tool requests, from whichever of its spans captured them
        # (with two instrumentations, often only one records responses).
        for outer, _ in calls:
            summary.tool_calls.extend(
                next(
                    (o.response_tool_calls for o in groups[outer.span_id] if o.response_tool_calls),
                    (),
                )
            )

    # Duration: the ai_run span, extended by GenAI spans that outlive it (a
    # stream consumed after the scope exits); else top-level GenAI spans.
    if segment.root_ended and segment.role != RESUMED_PLAIN:
        intervals = [(segment.root_start_ns, segment.root_end_ns)]
        intervals.extend((o.start_ns, o.end_ns) for o in observations)
    else:
        intervals = [(o.start_ns, o.end_ns) for o in observations if ancestor_of_kind(o, genai_kinds) is None]
        if not intervals and segment.root_ended:
            intervals = [(segment.root_start_ns, segment.root_end_ns)]
    if intervals:
        summary.duration_ms = _union_ms(intervals)

    # Outcome: the scope failed, or the last model call failed (a failure
    # retried by a later successful call is not an error).
    last_call_failed = bool(calls) and any(o.error for o in groups[calls[-1][0].span_id])
    if segment.root_ended or calls:
        summary.success = not (segment.root_error or last_call_failed)

    info = segment.binding.info
    members = [o for outer, _ in calls for o in groups[outer.span_id]]
    summary.model_name = info.model_name or next((o.model for o in members if o.model), "") or ""
    summary.provider_name = info.provider_name or next((o.provider for o in members if o.provider), "") or ""
    return summary


def _add_tokens(summary: Summary, observations: list[Observation]) -> None:
    for obs in observations:
        inp = obs.input_tokens or 0
        out = obs.output_tokens or 0
        total = obs.total_tokens if obs.total_tokens is not None else inp + out
        summary.input_tokens += inp
        summary.output_tokens += out
        summary.total_tokens += total
        summary.has_tokens = True


def _union_ms(intervals: list[tuple[int, int]]) -> int:
    total_ns = 0
    current_start, current_end = None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                total_ns += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total_ns += current_end - current_start
    return int(total_ns // 1_000_000)
