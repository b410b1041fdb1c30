"""Deciding a buffered trace's pending spans: which run each belongs to, and the segments they form.

The trace buffer (``serve.traces``) holds a trace's parents, marks and pending span
facts; here those pending spans are resolved through parent chains
(``otlp.assembly.resolve``) and grouped per run, and each group becomes an
``origin``, ``resumed`` or ``continuation`` segment (the roles of the run
model), or keeps waiting for its run's root.
"""

from __future__ import annotations

from typing import Any

from ldai_otel.model.run import CONTINUATION, ORIGIN, RESUMED
from ldai_otel.model.segment import Segment
from ldai_otel.otlp.assembly import (
    LD_TRACKED,
    PENDING,
    RunMark,
    ServiceContexts,
    SpanFacts,
    is_run_root,
    make_segment,
    resolve,
    run_context,
    run_info,
)
from ldai_otel.serve.trace_stats import Stats


def decide_pending(trace: Any, final: bool, out: list[Segment], stats: Stats, contexts: ServiceContexts) -> None:
    """Appends to ``out`` the segments the trace's pending spans form; the rest stay pending (unless final)."""
    memo: dict[int, Any] = {}
    groups: dict[tuple[str, str], list[SpanFacts]] = {}
    marks: dict[tuple[str, str], RunMark] = {}
    waiting: dict[int, SpanFacts] = {}
    for span_id, facts in trace.pending.items():
        found = resolve(span_id, trace.parents, trace.marks, memo)
        if found is PENDING:
            if final:
                stats.spans_unresolved += 1
            else:
                waiting[span_id] = facts
        elif found is None:
            stats.spans_in_no_run += 1
        elif found is LD_TRACKED:
            stats.spans_launchdarkly_tracked += 1
        elif found.emitted_in_process and found.service == facts.service:
            stats.spans_emitted_in_process += 1
        else:
            groups.setdefault(found.key, []).append(facts)
            marks.setdefault(found.key, found)
    for key, members in groups.items():
        segment = _segment(trace, key, marks[key], members, memo, final, contexts)
        if segment is None:
            waiting.update((f.span_id, f) for f in members)
        else:
            out.append(segment)
            trace.emitted.add(key)
            stats.segments_emitted += 1
            if segment.role == CONTINUATION:
                stats.spans_late += len(members)
    trace.pending = waiting


def _segment(
    trace: Any,
    key: tuple[str, str],
    mark: RunMark,
    members: list[SpanFacts],
    memo: dict[int, Any],
    final: bool,
    contexts: ServiceContexts,
) -> Segment | None:
    """The segment ``members`` of run ``key`` form now; None to wait for the run's root."""
    root: SpanFacts | None = None
    undecided = False
    for facts in trace.roots.values():
        if not isinstance(facts.mark, RunMark) or facts.mark.key != key:
            continue
        if facts.parent_id and resolve(facts.parent_id, trace.parents, trace.marks, memo) is PENDING:
            undecided = True  # it may yet turn out to be a member of the same run
            continue
        if is_run_root(facts, trace.parents, trace.marks, memo) and (root is None or facts.start_ns < root.start_ns):
            root = facts
    if key in trace.emitted:
        role = CONTINUATION
        root = None
    elif root is None and undecided and not final:
        return None
    elif root is None:
        if not final:
            return None
        role = ORIGIN  # decided for good without its root: top-level GenAI spans give duration
    elif root.mark.emitted_in_process:
        role = RESUMED
        root = None
    else:
        role = ORIGIN
    run_mark = root.mark if root is not None else mark
    service = root.service if root is not None else members[0].service
    context = run_context(run_mark, service, contexts)
    info = run_info(run_mark, context, members)
    return make_segment(info, run_mark.run_id, role, members, root)
