"""The runs ``ldai-otel inspect`` finds in a trace, and the events they emit.

The segments are formed by the one assembler (``otlp.assembly.form_segments``,
roles by ``model.roles.decide_role``), as the processors that wrote the spans
formed them, or (``--as serve``) by serve's own decision code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ldai_otel.evaluations.mapped_events import EvaluationEvents
from ldai_otel.inspect.reading import SpanRecord, TraceRecord
from ldai_otel.model.roles import RESUMED, decide_role
from ldai_otel.model.segment import Segment
from ldai_otel.otlp.assembly import (
    RunMark,
    ServiceContexts,
    SpanFacts,
    form_segments,
    pick_root,
    resolve,
    root_entry,
    run_info,
)
from ldai_otel.otlp.decide import decide_pending
from ldai_otel.rules.book import Summary
from ldai_otel.serve.trace_stats import Stats

AS_PROCESSOR = "processor"
"""``inspect --as processor``: what in-process ``LDAISpanProcessor`` instances send (the default)."""
AS_SERVE = "serve"
"""``inspect --as serve``: what ``ldai-otel serve`` sends for the same spans."""

# --- Runs ----------------------------------------------------------------------------


class RunReport:
    """One segment found in the file, and what it emits."""

    def __init__(self, segment: Segment, spans: list[SpanRecord], service: str):
        self.segment = segment
        self.spans = spans
        self.service = service
        self.summary: Summary | None = None
        self.events: list[tuple[str, Any, dict[str, Any]]] = []


def build_runs(trace: TraceRecord, context: Any, as_: str = AS_PROCESSOR) -> tuple[list[RunReport], list[SpanRecord]]:
    """The trace's run segments and its GenAI spans in no run, as processors (or ``serve``) form them.

    A span is in the run of its nearest ancestor-or-self carrying the
    ``ld.ai_config.*`` identity (the trace assembler's rule, shared with
    ``serve``). A process's processor emits the spans whose run root is in
    the same service: one segment per (run, service) whose role the root's
    ``ld.ai_config.entry`` gives (``model.roles.decide_role``), cut where the
    processor's segment closed (``otlp.assembly.form_segments``). Spans whose
    nearest root is in another service were in no processor's run: they are
    listed as outside. With ``as_="serve"`` the trace is decided by serve's
    own code (``otlp.decide``) as if it arrived whole: one segment per run
    across services.
    """
    if as_ == AS_SERVE:
        return _as_serve(trace, context)
    memo: dict[int, Any] = {}
    grouped: dict[tuple[tuple[str, str], str], list[SpanRecord]] = {}
    marks: dict[tuple[str, str], RunMark] = {}
    outside: list[SpanRecord] = []
    for record in trace.spans:
        found = resolve(record.span_id, trace.parents, trace.marks, memo)
        if isinstance(found, RunMark) and found.service == record.service:
            grouped.setdefault((found.key, record.service), []).append(record)
            marks.setdefault(found.key, found)
        elif record.observation is not None or record.genai_keys:
            outside.append(record)
    timing: dict[tuple[tuple[str, str], str], list[SpanFacts]] = {}
    if grouped:
        for facts in trace.plain_facts():
            found = resolve(facts.span_id, trace.parents, trace.marks, memo)
            if isinstance(found, RunMark) and found.service == facts.service:
                timing.setdefault((found.key, facts.service), []).append(facts)
    reports = []
    for (key, service), spans in grouped.items():
        root = pick_root(spans)
        # A processor opens a run only from ai_run or baggage: a root that says neither was resumed.
        role = decide_role(root_entry(root) if root is not None else "", unknown=RESUMED)
        info = run_info(marks[key], context, spans)
        # Every span's parent, so nested model calls are found through spans that are no run's.
        formed = form_segments(info, key[0], role, spans, root, trace.parents, timing.get((key, service), ()))
        for segment, members in formed:
            reports.append(RunReport(segment, members, service))  # type: ignore[arg-type]
    reports.sort(key=lambda r: min(s.start_ns for s in r.spans))
    return reports, outside


class _OneContext(ServiceContexts):
    """Inspect's ``--context-key`` context where serve would use a service's anonymous one."""

    def __init__(self, context: Any) -> None:
        super().__init__()
        self._context = context

    def get(self, service: str | None) -> Any:
        return self._context


class _WholeTrace:
    """A trace as serve's buffer holds it, every span pending, nothing emitted yet."""

    def __init__(self, trace: TraceRecord) -> None:
        self.parents = trace.parents
        self.marks = trace.marks
        self.roots = {r.span_id: r for r in trace.spans if r.mark is not None}
        self.pending: dict[int, SpanFacts] = {r.span_id: r for r in trace.spans}
        self.pending.update((f.span_id, f) for f in trace.plain_facts())
        self.emitted: set[tuple[str, str]] = set()


def _as_serve(trace: TraceRecord, context: Any) -> tuple[list[RunReport], list[SpanRecord]]:
    formed: list[tuple[Segment, list[SpanFacts]]] = []
    decide_pending(_WholeTrace(trace), True, [], Stats(), _OneContext(context), formed)
    reports = []
    counted: set[int] = set()
    for segment, members in formed:
        records = [m for m in members if isinstance(m, SpanRecord)]
        counted.update(r.span_id for r in records)
        if not records:
            continue
        root = next((r for r in records if r.span_id == segment.root_span_id), records[0])
        reports.append(RunReport(segment, records, root.service))
    outside = [r for r in trace.spans if r.span_id not in counted and (r.observation is not None or r.genai_keys)]
    reports.sort(key=lambda r: min(s.start_ns for s in r.spans))
    return reports, outside


class RecordingClient:
    """What ``LDAIConfigTracker`` sees as its ``ldclient.LDClient``: records each event.

    Args:
        forward: A real ``LDClient`` to also send each event through
            (``--send``); None for a dry run, which sends nothing.
    """

    def __init__(self, forward: Any = None) -> None:
        self.forward = forward
        self.tracked: list[tuple[str, Any, dict[str, Any]]] = []

    def track(self, event_name: str, context: Any, data: Any = None, metric_value: Any = None) -> None:
        """Records an event (``LDClient.track``'s signature), and sends it when forwarding."""
        self.tracked.append((event_name, metric_value, dict(data or {})))
        if self.forward is not None:
            self.forward.track(event_name, context, data, metric_value)


def emit(report: RunReport, client: RecordingClient, evaluation_metrics: Mapping[str, str] | None = None) -> None:
    """Summarizes and emits one segment through the processor's own code (mapped evaluations too)."""
    from ldai_otel.rules.emission import emit_segment

    before = len(client.tracked)
    if evaluation_metrics:
        EvaluationEvents(client, evaluation_metrics).on_observed_segment(report.segment)
    report.summary = emit_segment(client, report.segment)
    report.events = client.tracked[before:]
