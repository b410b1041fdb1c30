"""Trace buffering for ``ldai-otel serve``: spans in, run segments out when a trace goes quiet.

Spans arrive in any order, in many requests, from many services. Each trace
keeps every span's parent (so chains resolve, ``_assembler.resolve``), its
marked spans, and the facts of the spans not yet decided. When a trace has
been quiet for the decision wait, its runs whose root has arrived are emitted
(docs/serve.md, "How runs are found"):

* a run whose root was not emitted in process: an ``origin`` segment of
  every member, across services (duration and outcome from the root);
* a run whose root an in-process ``LDAISpanProcessor`` emitted: the members
  no processor saw (a downstream service without one) as a ``resumed``
  segment, which leaves duration and outcome to that processor;
* a run already emitted here: a ``continuation`` segment (tokens, time to
  first token, tool calls).

Spans whose nearest root is stamped by an in-process processor of their own
service, spans under a root of LaunchDarkly's own SDKs, and spans in no run
are dropped. A span whose chain does not resolve yet waits. The trace itself
is remembered (parents and marks only) so late spans find their run, until
it has been quiet for the retention time or the bounds need its room.

Bounds (docs/serve.md; backpressure before loss): a request that would
take the buffer past ``max_spans`` or ``max_traces`` first frees room among
traces quiet for the decision wait (decided ones are forgotten; ones still
waiting for an ancestor are decided with what they have, counted in
``traces_cut``); if that is not enough the whole request is refused
(:class:`Refused`, retryable: the receivers answer 429 / ``RESOURCE_EXHAUSTED``
and the exporter's queue keeps the data). Only ``max_spans_per_trace`` emits
early: one trace that large is decided with what it has, since refusing would
never make room for it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ldai_otel._assembler import (
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
from ldai_otel._runs import CONTINUATION, ORIGIN, RESUMED, Segment

BUFFER_FULL = "buffer_full"
TOO_MANY_SPANS = "too_many_spans"


class Refused(Exception):
    """A request the buffer did not take, none of its spans.

    Args:
        reason: ``BUFFER_FULL`` or ``TOO_MANY_SPANS`` (a metric label).
        retryable: Whether sending it again later can succeed.
        message: For the answer's status message.
    """

    def __init__(self, reason: str, retryable: bool, message: str):
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable
        self.message = message


class Stats:
    """Counters of what the buffer did, for logs and the metrics endpoint."""

    __slots__ = (
        "spans_received",
        "spans_duplicate",
        "segments_emitted",
        "spans_emitted_in_process",
        "spans_launchdarkly_tracked",
        "spans_in_no_run",
        "spans_unresolved",
        "traces_cut",
        "spans_refused_full",
        "spans_refused_too_many",
        "spans_peak",
        "spans_late",
    )

    def __init__(self) -> None:
        self.spans_received = 0
        self.spans_duplicate = 0
        """Skipped: a span already decided, received again."""
        self.segments_emitted = 0
        self.spans_emitted_in_process = 0
        """Skipped: an in-process processor already emitted them."""
        self.spans_launchdarkly_tracked = 0
        """Skipped: under a root of LaunchDarkly's own AI SDKs."""
        self.spans_in_no_run = 0
        self.spans_unresolved = 0
        """Dropped when their trace was decided for good with an ancestor still missing."""
        self.traces_cut = 0
        """Traces decided early because a bound was reached."""
        self.spans_refused_full = 0
        """Refused (retryable) because the buffer was full."""
        self.spans_refused_too_many = 0
        """Refused for good: one request held more spans than the whole bound."""
        self.spans_peak = 0
        """The most spans held at once."""
        self.spans_late = 0
        """Spans emitted in continuation segments (arrived after their run was emitted)."""


class _Trace:
    __slots__ = ("trace_id", "parents", "marks", "roots", "pending", "emitted", "last_seen", "dirty")

    def __init__(self, trace_id: int, now: float):
        self.trace_id = trace_id
        self.parents: dict[int, int] = {}
        self.marks: dict[int, Any] = {}
        self.roots: dict[int, SpanFacts] = {}
        """Facts of the marked spans, kept for the trace's life: a run's root decides roles."""
        self.pending: dict[int, SpanFacts] = {}
        self.emitted: set[tuple[str, str]] = set()
        self.last_seen = now
        self.dirty = False


class TraceBuffer:
    """Buffers span facts per trace and turns quiet traces into closed segments.

    Thread-safe: :meth:`add` runs on the receivers' threads, :meth:`tick` on
    the emitter's. Segments are handed to ``submit`` outside the lock.

    Args:
        submit: Takes closed segments to emit (``SegmentEmitter.submit``).
        decision_wait_s: How long a trace must be quiet before its runs are decided.
        retention_s: How long a quiet trace is remembered for late spans.
        max_traces: Most traces held; a request that would need more is refused
            (retryable) once nothing can be freed (see :meth:`add`).
        max_spans_per_trace: Most spans one trace holds; at the limit it is decided
            with what it has and forgotten (early emission, counted).
        max_spans: Most spans held over all traces; likewise refused, never exceeded.
    """

    def __init__(
        self,
        submit: Callable[[list[Segment]], None],
        decision_wait_s: float,
        retention_s: float = 600.0,
        max_traces: int = 10_000,
        max_spans_per_trace: int = 10_000,
        max_spans: int = 500_000,
    ):
        self._submit = submit
        self._wait = decision_wait_s
        self._retention = max(retention_s, decision_wait_s)
        self._max_traces = max_traces
        self._max_spans_per_trace = max_spans_per_trace
        self._max_spans = max_spans
        self._contexts = ServiceContexts()
        self.stats = Stats()
        # One lock guards the tables and the counters.
        self._lock = threading.Lock()
        self._traces: OrderedDict[int, _Trace] = OrderedDict()  # least recently active first
        # The traces with spans not yet looked at, least recently active first: a tick walks
        # only those due, not every trace remembered for late spans.
        self._dirty: OrderedDict[int, _Trace] = OrderedDict()
        self._spans = 0  # parents held over all traces

    @property
    def traces(self) -> int:
        """How many traces are held now."""
        return len(self._traces)

    @property
    def spans(self) -> int:
        """How many spans are held now (their parent links)."""
        return self._spans

    def add(self, spans: Iterable[SpanFacts], now: float | None = None) -> None:
        """Takes the spans of one request, or none of them.

        Raises:
            Refused: Taking the request would hold more than ``max_spans`` spans or
                ``max_traces`` traces even after forgetting what no longer needs
                holding; nothing of the request was taken.
        """
        now = time.monotonic() if now is None else now
        batch = spans if isinstance(spans, list) else list(spans)
        out: list[Segment] = []
        try:
            with self._lock:
                self._admit_locked(batch, now, out)
                for facts in batch:
                    self._add_locked(facts, now, out)
                if self._spans > self.stats.spans_peak:
                    self.stats.spans_peak = self._spans
        finally:
            self._emit(out)

    def _admit_locked(self, batch: list[SpanFacts], now: float, out: list[Segment]) -> None:
        """Makes room for ``batch`` (see :meth:`_make_room_locked`), or refuses it whole."""
        n = len(batch)
        if n > self._max_spans:
            self.stats.spans_refused_too_many += n
            raise Refused(
                TOO_MANY_SPANS,
                False,
                "a request of %d spans is over --max-spans (%d): send smaller batches" % (n, self._max_spans),
            )
        traces = self._traces
        new_traces = len({f.trace_id for f in batch if f.trace_id not in traces})
        if self._spans + n <= self._max_spans and len(traces) + new_traces <= self._max_traces:
            return
        self._make_room_locked(n, new_traces, now, out)
        new_traces = len({f.trace_id for f in batch if f.trace_id not in traces})  # some may have been forgotten
        if self._spans + n > self._max_spans:
            self.stats.spans_refused_full += n
            raise Refused(BUFFER_FULL, True, "%d spans held, at --max-spans (%d)" % (self._spans, self._max_spans))
        if len(traces) + new_traces > self._max_traces:
            self.stats.spans_refused_full += n
            raise Refused(BUFFER_FULL, True, "%d traces held, at --max-traces (%d)" % (len(traces), self._max_traces))

    def _make_room_locked(self, n: int, new_traces: int, now: float, out: list[Segment]) -> None:
        """Frees room, least recently active first, among traces quiet for the decision wait.

        First those already decided (their parents are kept only so late spans find
        their run: forgetting them loses nothing accepted), then those still waiting
        for a missing ancestor after the decision wait (decided now with what they
        have, counted): both kinds appear within one decision wait, so a full buffer
        refuses for about that long at most. Traces not yet quiet are never cut.
        """

        def enough() -> bool:
            return self._spans + n <= self._max_spans and len(self._traces) + new_traces <= self._max_traces

        for stuck in (False, True):
            quiet = []
            for trace in self._traces.values():
                if now - trace.last_seen < self._wait:
                    break  # ordered by activity: the rest are more recent
                quiet.append(trace)
            for trace in quiet:
                if enough():
                    break
                if not stuck and trace.dirty:
                    self._decide_locked(trace, final=False, out=out)  # what the next tick would do
                if stuck or not trace.pending:
                    self._push_out_locked(trace, out, counted=stuck)
            if enough():
                return

    def _add_locked(self, facts: SpanFacts, now: float, out: list[Segment]) -> None:
        self.stats.spans_received += 1
        trace = self._traces.get(facts.trace_id)
        if trace is None:
            trace = self._traces[facts.trace_id] = _Trace(facts.trace_id, now)
        else:
            self._traces.move_to_end(facts.trace_id)
            trace.last_seen = now
        if facts.span_id in trace.parents and facts.span_id not in trace.pending:
            # Already decided: an exporter's retry of a request whose answer it lost.
            self.stats.spans_duplicate += 1
            return
        if facts.span_id not in trace.parents:
            self._spans += 1
        trace.parents[facts.span_id] = facts.parent_id
        if facts.mark is not None:
            trace.marks[facts.span_id] = facts.mark
            trace.roots[facts.span_id] = facts
        trace.pending[facts.span_id] = facts
        trace.dirty = True
        self._dirty[facts.trace_id] = trace
        self._dirty.move_to_end(facts.trace_id)
        if len(trace.parents) >= self._max_spans_per_trace:
            # Refusing would not help: the trace only grows. Decided now with what it has.
            self._push_out_locked(trace, out)

    def tick(self, now: float | None = None) -> None:
        """Decides the traces quiet for the decision wait; forgets those past retention."""
        now = time.monotonic() if now is None else now
        out: list[Segment] = []
        with self._lock:
            # Both tables are ordered by activity: each walk stops at the first trace not due.
            due = []
            for trace in self._dirty.values():
                if now - trace.last_seen < self._wait:
                    break
                due.append(trace)
            for trace in due:
                self._decide_locked(trace, final=False, out=out)
            expired = []
            for trace in self._traces.values():
                if now - trace.last_seen < self._retention:
                    break
                expired.append(trace)
            for trace in expired:
                self._push_out_locked(trace, out, counted=False)
        self._emit(out)

    def drain(self) -> None:
        """Decides every trace with what it has (shutdown) and forgets them all."""
        out: list[Segment] = []
        with self._lock:
            for trace in list(self._traces.values()):
                self._push_out_locked(trace, out, counted=False)
        self._emit(out)

    def _emit(self, out: list[Segment]) -> None:
        if out:
            self._submit(out)

    def _push_out_locked(self, trace: _Trace, out: list[Segment], counted: bool = True) -> None:
        if counted and trace.pending:
            self.stats.traces_cut += 1
        self._decide_locked(trace, final=True, out=out)
        self._spans -= len(trace.parents)
        self._traces.pop(trace.trace_id, None)

    def _decide_locked(self, trace: _Trace, final: bool, out: list[Segment]) -> None:
        """Emits what the trace's pending spans can decide; the rest keep waiting (unless final)."""
        trace.dirty = False
        self._dirty.pop(trace.trace_id, None)
        stats = self.stats
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
            segment = self._segment_locked(trace, key, marks[key], members, memo, final)
            if segment is None:
                waiting.update((f.span_id, f) for f in members)
            else:
                out.append(segment)
                trace.emitted.add(key)
                stats.segments_emitted += 1
                if segment.role == CONTINUATION:
                    stats.spans_late += len(members)
        trace.pending = waiting

    def _segment_locked(
        self,
        trace: _Trace,
        key: tuple[str, str],
        mark: RunMark,
        members: list[SpanFacts],
        memo: dict[int, Any],
        final: bool,
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
            if is_run_root(facts, trace.parents, trace.marks, memo) and (
                root is None or facts.start_ns < root.start_ns
            ):
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
        context = run_context(run_mark, service, self._contexts)
        info = run_info(run_mark, context, members)
        return make_segment(info, run_mark.run_id, role, members, root)
