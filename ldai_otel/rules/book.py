"""The rule book: what a closed segment emits (docs/design.md, "Three sources, one rule book"; docs/rules.md).

The only place the metric rules are written. Each of the three sources of spans
(the processor: live spans in the app's process; ``ldai-otel inspect``: OTLP JSON
files; ``ldai-otel serve``: OTLP over the network) turns what it receives into a
closed :class:`~ldai_otel.model.segment.Segment` of
:class:`~ldai_otel.model.observation.Observation` and hands it to
:func:`~ldai_otel.rules.emission.emit_segment`, which calls :func:`summarize`.

Each rule below states itself in its docstring: which event it sends, when,
and from which spans. Each fact (tokens, time to first token, tool calls,
duration, outcome, names) is computed on its own behind a guard: a fact that
fails is left out with one rate-limited log line, and the segment still emits
every other one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model.attributes import HANDOFF_TOOL_PREFIX
from ldai_otel.model.observation import AGENT, MODEL, TOOL, Observation
from ldai_otel.model.parents import chain
from ldai_otel.model.run import RESUMED_PLAIN
from ldai_otel.model.segment import Segment
from ldai_otel.model.values import MAX_COUNT, MAX_TIME_MS
from ldai_otel.rules.calls import model_calls

_logger = logging.getLogger(__name__)
_errors = RateLimitedLogger(_logger)
_bad_input = RateLimitedLogger(_logger)


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


class _View:
    """The segment's observations, with the lookups every rule needs."""

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.observations = sorted(segment.observations, key=lambda o: (o.start_ns, o.end_ns))
        self.by_span = {o.span_id: o for o in self.observations}
        self.parents = segment.parents

    def ancestor_of_kind(self, obs: Observation, kinds: frozenset[str]) -> Observation | None:
        """Nearest ancestor within the segment whose observation is of ``kinds``."""
        by_span = self.by_span
        for parent_id in chain(obs.parent_id, self.parents):
            parent = by_span.get(parent_id)
            if parent is not None and parent.kind in kinds:
                return parent
        return None


_AGENT_KIND = frozenset({AGENT})
_GENAI_KINDS = frozenset({MODEL, TOOL, AGENT})


def _guard(summary: Summary, what: str, rule: Callable[..., None], *args: Any) -> None:
    try:
        rule(summary, *args)
    except Exception:  # one fact lost, never the segment (docs/design.md, "Never breaking the host app")
        _errors.exception("ldai-otel: computing %s of a run failed; the run emits its other metrics", what)


def summarize(segment: Segment) -> Summary:
    """Applies the metric rules (docs/rules.md) to a closed segment.

    Never raises: a rule that fails leaves its fact out (see the module docstring).
    """
    summary = Summary()
    try:
        view = _View(segment)
    except Exception:
        _errors.exception("ldai-otel: reading the spans of a run failed; it emits its scope's metrics only")
        view = _View.__new__(_View)
        view.segment, view.observations, view.by_span, view.parents = segment, [], {}, {}
    try:
        calls = _model_calls(view)
    except Exception:
        _errors.exception("ldai-otel: grouping the model calls of a run failed; each span counts as a call")
        calls = [[o] for o in view.observations if o.kind == MODEL]
    _guard(summary, "tokens", _tokens, view, calls)
    _guard(summary, "time to first token", _time_to_first_token, calls)
    _guard(summary, "tool calls", _tool_calls, view, calls)
    _guard(summary, "duration", _duration, view)
    _guard(summary, "the outcome", _outcome, segment, calls)
    _guard(summary, "model and provider names", _names, segment, calls)
    return summary


# --- Model calls ------------------------------------------------------------------


def _model_calls(view: _View) -> list[list[Observation]]:
    """The segment's model calls, each the spans that saw it, innermost first, in call order.

    One model call counts once, however many instrumentations wrote a span for it
    (the rule: :mod:`ldai_otel.rules.calls`); every rule below reads calls, not spans.
    """
    return model_calls(view.observations, view.parents)


def _first(call: list[Observation], has: Callable[[Observation], bool]) -> Observation | None:
    """The innermost span of ``call`` for which ``has`` holds."""
    return next((o for o in call if has(o)), None)


# --- The rules, one fact each --------------------------------------------------


def _tokens(summary: Summary, view: _View, calls: list[list[Observation]]) -> None:
    """Tokens: ``$ld:ai:tokens:input``, ``output`` and ``total``, once per segment.

    Sent when any span of the segment carries usage, by every role. Summed over
    the segment's model calls, each call counted once (:func:`_model_calls`) from
    its innermost span that carries usage: input is every prompt token (cached
    reads and writes included), output every output token (reasoning included),
    total the span's own total or else input plus output. Only when no model-call
    span carries usage, the outermost agent spans' usage is used instead (agent
    spans repeat their children's: pydantic-ai's ``gen_ai.aggregated_usage.*``,
    Vercel's outer spans). A sum beyond the int64 range is left out with a warning.
    """
    usage = [u for u in (_first(call, _has_usage) for call in calls) if u is not None]
    if not usage:
        # Agent spans repeat their children's usage: only without any model
        # usage, and then only the outermost agent spans.
        usage = [
            o
            for o in view.observations
            if o.kind == AGENT and o.has_usage and view.ancestor_of_kind(o, _AGENT_KIND) is None
        ]
    if not usage:
        return
    inp = out = total = 0
    for obs in usage:
        i = obs.input_tokens or 0
        o = obs.output_tokens or 0
        inp += i
        out += o
        total += obs.total_tokens if obs.total_tokens is not None else i + o
    if max(inp, out, total) > MAX_COUNT:
        _bad_input.warning("ldai-otel: ignoring a run's token counts: their sum is beyond the int64 range")
        return
    summary.input_tokens, summary.output_tokens, summary.total_tokens = inp, out, total
    summary.has_tokens = True


def _has_usage(obs: Observation) -> bool:
    return obs.has_usage


def _time_to_first_token(summary: Summary, calls: list[list[Observation]]) -> None:
    """Time to first token: ``$ld:ai:tokens:ttf``, in milliseconds, once per segment.

    Sent when a model call of the segment streamed, by every role: the first call
    (in call order) with a time to first token, read from its innermost span that
    has one (an attribute in seconds or milliseconds, or the first chunk event; see
    docs/dialects.md), rounded to a whole millisecond.
    """
    for call in calls:
        with_ttft = _first(call, lambda o: o.time_to_first_token_ms is not None)
        if with_ttft is not None:
            summary.time_to_first_token_ms = int(round(with_ttft.time_to_first_token_ms or 0.0))
            return


def _tool_calls(summary: Summary, view: _View, calls: list[list[Observation]]) -> None:
    """Tool calls: one ``$ld:ai:tool_call`` per tool call, ``toolKey`` the tool's name.

    Sent by every role. One event per executed tool span of the segment (the call
    happened, so it always counts: a span whose tool name is missing, empty or not a
    string counts as the tool ``unknown``, and a name longer than 1,024 characters is
    cut to that bound; see :func:`~ldai_otel.model.values.tool_key`). Only when the
    segment has no tool span, the tool calls the model responses asked for, per call
    from its innermost span that captured them. A handoff between agents (a
    ``transfer_to_<agent>`` tool) is an agent-graph edge, never a tool call.
    """
    tools = [o.tool_name for o in view.observations if o.kind == TOOL and o.tool_name and not _is_handoff(o.tool_name)]
    if tools:
        summary.tool_calls = tools
        return
    # One call's tool requests, from whichever of its spans captured them
    # (with two instrumentations, often only one records responses).
    for call in calls:
        with_tools = _first(call, lambda o: bool(o.response_tool_calls))
        if with_tools is not None:
            summary.tool_calls.extend(t for t in with_tools.response_tool_calls if not _is_handoff(t))


def _is_handoff(tool_name: str) -> bool:
    # A handoff is an agent-graph edge, not a tool call (docs/design.md, "The rule book"; docs/rules.md).
    return tool_name.startswith(HANDOFF_TOOL_PREFIX)


def _duration(summary: Summary, view: _View) -> None:
    """Duration: ``$ld:ai:duration:total``, in milliseconds, once per run.

    Sent only by the segment that owns the run's outcome (``origin``, or
    ``resumed-plain``: :func:`~ldai_otel.rules.trackers.owns_outcome` decides).
    When the run's root span (the ``ai_run`` span) ended in this segment: the union
    of its interval with every GenAI span's, so a stream consumed after the block
    still counts. Otherwise (a run resumed from a plain token, or no root here): the
    union of the top-level GenAI spans' intervals (those with no GenAI ancestor in
    the segment), else the root's own. A duration longer than a day is left out.
    """
    segment = view.segment
    if segment.root_ended and segment.role != RESUMED_PLAIN:
        intervals = [(segment.root_start_ns, segment.root_end_ns)]
        intervals.extend((o.start_ns, o.end_ns) for o in view.observations)
    else:
        tops = [o for o in view.observations if view.ancestor_of_kind(o, _GENAI_KINDS) is None]
        intervals = [(o.start_ns, o.end_ns) for o in tops]
        if not intervals and segment.root_ended:
            intervals = [(segment.root_start_ns, segment.root_end_ns)]
    if not intervals:
        return
    duration_ms = _union_ms(intervals)
    if duration_ms > MAX_TIME_MS:
        _bad_input.warning("ldai-otel: ignoring a run's duration: longer than a day")
        return
    summary.duration_ms = duration_ms


def _outcome(summary: Summary, segment: Segment, calls: list[list[Observation]]) -> None:
    """Outcome: ``$ld:ai:generation:success`` or ``$ld:ai:generation:error``, once per run.

    Sent only by the segment that owns the run's outcome (as for the duration), and
    only when its root span ended here or it saw a model call. Error when the root
    span ended in error (the ``ai_run`` block raised, or its span's status is ERROR)
    or the segment's last model call failed (its innermost span's status is ERROR or
    it carries ``error.type``); a failure retried by a later successful call is a
    success.
    """
    last_call_failed = bool(calls) and calls[-1][0].error
    if segment.root_ended or calls:
        summary.success = not (segment.root_error or last_call_failed)


def _names(summary: Summary, segment: Segment, calls: list[list[Observation]]) -> None:
    """Model and provider: ``modelName`` and ``providerName`` on every event of the segment.

    The AI Config's model and provider when it names them; else the first model
    call's (in call order) request model and provider, each from the innermost span
    of that call that has one; else empty.
    """
    info = segment.binding.info
    with_model = next((o for call in calls for o in call if o.model), None)
    with_provider = next((o for call in calls for o in call if o.provider), None)
    summary.model_name = info.model_name or (with_model.model if with_model else "") or ""
    summary.provider_name = info.provider_name or (with_provider.provider if with_provider else "") or ""


def _union_ms(intervals: list[tuple[int, int]]) -> int:
    total_ns = 0
    current_start = current_end = -1
    # An interval that ends before it starts (a corrupt file) is a point.
    for start, end in sorted((s, max(s, e)) for s, e in intervals):
        if current_end < 0 or start > current_end:
            if current_end >= 0:
                total_ns += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end >= 0:
        total_ns += current_end - current_start
    return int(total_ns // 1_000_000)
