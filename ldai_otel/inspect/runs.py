"""The runs ``ldai-otel inspect`` finds in a trace, and the events they emit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ldai_otel.evaluations.mapped_events import EvaluationEvents
from ldai_otel.inspect.reading import SpanRecord, TraceRecord
from ldai_otel.model.run import ORIGIN, RESUMED
from ldai_otel.model.segment import Segment
from ldai_otel.otlp.assembly import (
    AI_RUN_SCOPE,
    RunMark,
    make_segment,
    pick_root,
    resolve,
    run_info,
)
from ldai_otel.rules.book import Summary

# --- Runs ----------------------------------------------------------------------------


class RunReport:
    """One segment found in the file, and what it emits."""

    def __init__(self, segment: Segment, spans: list[SpanRecord], service: str):
        self.segment = segment
        self.spans = spans
        self.service = service
        self.summary: Summary | None = None
        self.events: list[tuple[str, Any, dict[str, Any]]] = []


def build_runs(trace: TraceRecord, context: Any) -> tuple[list[RunReport], list[SpanRecord]]:
    """The trace's run segments, one per (run, service), and its GenAI spans in no run.

    A span is in the run of its nearest ancestor-or-self carrying the
    ``ld.ai_config.*`` identity (the trace assembler's rule, shared with
    ``serve``). A process's processor emits the spans whose run root is in
    the same service: the ``ai_run`` span (the origin) or the span that
    resumed the run from baggage (a resumed segment, which leaves duration and
    outcome to the origin). Spans whose nearest root is in another service were
    in no processor's run: they are listed as outside.
    """
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
    reports = []
    for (key, service), spans in grouped.items():
        root = pick_root(spans)
        role = ORIGIN if root is not None and root.scope == AI_RUN_SCOPE else RESUMED
        info = run_info(marks[key], context, spans)
        segment = make_segment(info, key[0], role, spans, root)
        # Every span's parent, so nested model calls are found through spans that are no run's.
        segment.parents = trace.parents
        reports.append(RunReport(segment, spans, service))
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
