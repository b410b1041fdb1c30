"""Deciding a buffered trace's pending spans: which run each belongs to, and the segments they form.

The trace buffer (``serve.traces``) holds a trace's parents, marks and pending span
facts; here those pending spans are resolved through parent chains
(``otlp.assembly.resolve``) and grouped per run, and each group becomes its
segments (``otlp.assembly.form_segments``) with the role ``model.roles.decide_role``
gives, or keeps waiting for its run's root.
"""

from __future__ import annotations

from typing import Any

from ldai_otel.model.roles import CONTINUATION, decide_role
from ldai_otel.model.segment import Segment
from ldai_otel.otlp.assembly import (
    LD_TRACKED,
    PENDING,
    RunMark,
    ServiceContexts,
    SpanFacts,
    form_segments,
    is_run_root,
    resolve,
    root_entry,
    run_context,
    run_info,
)
from ldai_otel.serve.trace_stats import Stats


def decide_pending(
    trace: Any,
    final: bool,
    out: list[Segment],
    stats: Stats,
    contexts: ServiceContexts,
    formed: list[tuple[Segment, list[SpanFacts]]] | None = None,
) -> None:
    """Appends to ``out`` the segments the trace's pending spans form; the rest stay pending (unless final).

    ``formed``, when given, also receives each segment with its member spans (``inspect --as serve``).
    """
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
        segments = _segments(trace, key, marks[key], members, memo, final, contexts)
        if segments is None:
            waiting.update((f.span_id, f) for f in members)
            continue
        trace.emitted.add(key)
        for segment, group in segments:
            out.append(segment)
            stats.segments_emitted += 1
            if segment.role == CONTINUATION:
                stats.spans_late += len(group)
        if formed is not None:
            formed.extend(segments)
    trace.pending = waiting


def _segments(
    trace: Any,
    key: tuple[str, str],
    mark: RunMark,
    members: list[SpanFacts],
    memo: dict[int, Any],
    final: bool,
    contexts: ServiceContexts,
) -> list[tuple[Segment, list[SpanFacts]]] | None:
    """The segments ``members`` of run ``key`` form now; None to wait for the run's root."""
    root: SpanFacts | None = None
    for facts in trace.roots.values():
        if not isinstance(facts.mark, RunMark) or facts.mark.key != key:
            continue
        if facts.parent_id and resolve(facts.parent_id, trace.parents, trace.marks, memo) is PENDING:
            continue  # it may yet turn out to be a member of the same run
        if is_run_root(facts, trace.parents, trace.marks, memo) and (root is None or facts.start_ns < root.start_ns):
            root = facts
    emitted_before = key in trace.emitted
    if root is None and not emitted_before and not final:
        return None  # its root (or the span that shows a candidate is no root) may yet arrive
    # Decided for good without a root: an origin whose top-level GenAI spans give duration.
    role = decide_role(
        root_entry(root) if root is not None else "",
        emitted_before=emitted_before,
        emitted_in_process=root is not None and root.mark.emitted_in_process,
    )
    if role == CONTINUATION or (root is not None and root.mark.emitted_in_process):
        root = None  # its duration and outcome are not this segment's; nor its service's context
    run_mark = root.mark if root is not None else mark
    service = root.service if root is not None else members[0].service
    context = run_context(run_mark, service, contexts)
    info = run_info(run_mark, context, members)
    return form_segments(info, run_mark.run_id, role, members, root)
