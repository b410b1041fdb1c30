"""Trace buffering for ``ldai-otel serve``: spans in, run segments out when a trace goes quiet.

Spans arrive in any order, in many requests, from many services. Each trace
keeps every span's parent (so chains resolve, ``otlp.assembly.resolve``), its
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
never make room for it; with a spool (``serve --state-dir``) it is spilled
instead (``serve.spill``): its spans stay on disk until it is decided whole.

With a spool, each trace also pins the spool files its undecided spans came
from, and hands them back (``serve.ledger.Settled``) once nothing of it waits.
Deciding the pending spans themselves is ``otlp.decide``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ldai_otel.model.contexts import ServiceContexts
from ldai_otel.model.segment import Segment
from ldai_otel.otlp.assembly import RunMark, SpanFacts
from ldai_otel.otlp.decide import decide_pending
from ldai_otel.serve.ledger import Settled
from ldai_otel.serve.spill import Reload, SpoolState, decide_spilled, spill_add, spill_start
from ldai_otel.serve.spool import Position
from ldai_otel.serve.trace_stats import BUFFER_FULL, DISK_FULL, SPOOL_FULL, TOO_MANY_SPANS, Refused, Stats

__all__ = ["BUFFER_FULL", "TOO_MANY_SPANS", "Refused", "Stats", "TraceBuffer"]


class _Trace:
    __slots__ = ("trace_id", "parents", "marks", "roots", "pending", "emitted", "last_seen", "dirty", "spool")

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
        self.spool: SpoolState | None = None


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
        ledger: The spool's ``serve.ledger.DeliveryLedger`` (pins, settled traces); None without a spool.
        reload: Reads a trace's spans back from the spool (spilled traces); None without a spool.
    """

    def __init__(
        self,
        submit: Callable[[list[Segment]], None],
        decision_wait_s: float,
        retention_s: float = 600.0,
        max_traces: int = 10_000,
        max_spans_per_trace: int = 10_000,
        max_spans: int = 500_000,
        ledger: Any = None,
        reload: Reload | None = None,
    ):
        self._submit = submit
        self._ledger = ledger
        self._reload = reload
        self._settled: list[Settled] = []  # filled under the lock, handed over by _emit
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

    def add(
        self,
        spans: Iterable[SpanFacts],
        now: float | None = None,
        record: Callable[[], Position] | None = None,
    ) -> None:
        """Takes the spans of one request, or none of them.

        Args:
            spans: The request's span facts.
            now: ``time.monotonic()`` unless given.
            record: Writes the request to the spool once it is admitted (under the
                lock, so its file is pinned before any other write); returns where.

        Raises:
            Refused: Taking the request would hold more than ``max_spans`` spans or
                ``max_traces`` traces even after forgetting what no longer needs
                holding, or the spool is full; nothing of the request was taken.
        """
        now = time.monotonic() if now is None else now
        batch = spans if isinstance(spans, list) else list(spans)
        out: list[Segment] = []
        settled: list[Settled] = []
        try:
            with self._lock:
                try:
                    self._admit_locked(batch, now, out)
                    position = record() if record is not None else None
                except Refused as refused:
                    if refused.reason in (SPOOL_FULL, DISK_FULL):
                        self._cut_stuck_locked(now, out)  # their files can go at the next delivery
                    raise
                finally:
                    settled = self._take_settled_locked()
                for facts in batch:
                    self._add_locked(facts, now, out, position)
                if self._spans > self.stats.spans_peak:
                    self.stats.spans_peak = self._spans
                settled += self._take_settled_locked()
        finally:
            self._emit(out, settled)

    def add_replayed(
        self, spans: list[SpanFacts], position: Position, delivered: dict[int, int], sending: dict[int, int]
    ) -> None:
        """Takes the spans of one spool record at start, past the bounds (they were acknowledged).

        Spans of a trace marked delivered up to this record are remembered as decided
        (their runs count as emitted: later spans form continuations); the others wait
        as if just received, and a run they make that was marked sending but not
        delivered is counted as re-sent.
        """
        now = time.monotonic()
        out: list[Segment] = []
        with self._lock:
            self.stats.records_replayed += 1
            for facts in spans:
                trace = self._traces.get(facts.trace_id)
                if trace is None:
                    trace = self._traces[facts.trace_id] = _Trace(facts.trace_id, now)
                    trace.spool = SpoolState()
                    done = delivered.get(facts.trace_id, -1)
                    trace.spool.resend = sending.get(facts.trace_id, -1) > done
                if position.seq <= delivered.get(facts.trace_id, -1):
                    self._add_decided_locked(trace, facts, position)
                else:
                    if trace.spool is not None:  # always, for a trace read back
                        trace.spool.replayed = True
                    self._add_locked(facts, now, out, position)
            settled = self._take_settled_locked()
        self._emit(out, settled)

    def _remember_locked(self, trace: _Trace, facts: SpanFacts) -> None:
        # A span's chain (its parent, its run mark) stays for the trace's later spans.
        if facts.span_id not in trace.parents:
            self._spans += 1
        trace.parents[facts.span_id] = facts.parent_id
        if facts.mark is not None:
            trace.marks[facts.span_id] = facts.mark
            trace.roots[facts.span_id] = facts

    def _add_decided_locked(self, trace: _Trace, facts: SpanFacts, position: Position) -> None:
        if trace.spool is not None:  # always, for a trace read back
            trace.spool.note(position, pin=None)
        self._remember_locked(trace, facts)
        if isinstance(facts.mark, RunMark):
            trace.emitted.add(facts.mark.key)

    def _take_settled_locked(self) -> list[Settled]:
        settled, self._settled = self._settled, []
        return settled

    def _cut_stuck_locked(self, now: float, out: list[Segment]) -> None:
        """Decides, with what they have, the quiet traces still waiting for an ancestor (counted)."""
        stuck = []
        for trace in self._traces.values():
            if now - trace.last_seen < self._wait:
                break
            if trace.pending or (trace.spool is not None and trace.spool.spilled):
                stuck.append(trace)
        for trace in stuck:
            self._push_out_locked(trace, out)

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
        With a spool, a waiting trace is spilled first (its spans leave memory, it
        stays undecided: a long session whose root comes last); only if the
        trace count is still too high are spilled traces decided, counted.
        """

        def enough() -> bool:
            return self._spans + n <= self._max_spans and len(self._traces) + new_traces <= self._max_traces

        passes = ("decided", "spill", "stuck") if self._reload is not None else ("decided", "stuck")
        for step in passes:
            quiet = []
            for trace in self._traces.values():
                if now - trace.last_seen < self._wait:
                    break  # ordered by activity: the rest are more recent
                quiet.append(trace)
            for trace in quiet:
                if enough():
                    break
                spilled = trace.spool is not None and trace.spool.spilled
                if step == "decided" and trace.dirty:
                    self._decide_locked(trace, final=False, out=out)  # what the next tick would do
                if step == "spill":
                    if trace.pending and not spilled and trace.spool is not None:
                        self._spans -= spill_start(self, trace)
                elif step == "stuck" or not (trace.pending or spilled):
                    self._push_out_locked(trace, out, counted=step == "stuck")
            if enough():
                return

    def _add_locked(self, facts: SpanFacts, now: float, out: list[Segment], position: Position | None = None) -> None:
        self.stats.spans_received += 1
        trace = self._traces.get(facts.trace_id)
        if trace is None:
            trace = self._traces[facts.trace_id] = _Trace(facts.trace_id, now)
        else:
            self._traces.move_to_end(facts.trace_id)
            trace.last_seen = now
        if position is not None and trace.spool is not None and trace.spool.spilled:
            trace.spool.note(position, pin=self._ledger.pin)
            spill_add(trace, facts)
            self._mark_dirty_locked(trace)
            return
        if facts.span_id in trace.parents and facts.span_id not in trace.pending:
            # Already decided: an exporter's retry of a request whose answer it lost.
            self.stats.spans_duplicate += 1
            return
        if position is not None:
            # Pinned only for a span that will be decided (and so released), not for a duplicate.
            if trace.spool is None:
                trace.spool = SpoolState()
            trace.spool.note(position, pin=self._ledger.pin)
        self._remember_locked(trace, facts)
        trace.pending[facts.span_id] = facts
        self._mark_dirty_locked(trace)
        if len(trace.parents) >= self._max_spans_per_trace:
            if self._reload is not None and trace.spool is not None:
                # Its spans are in the spool: kept there until it is decided, root or not.
                self._spans -= spill_start(self, trace)
                return
            # Refusing would not help: the trace only grows. Decided now with what it has.
            self._push_out_locked(trace, out)

    def _mark_dirty_locked(self, trace: _Trace) -> None:
        trace.dirty = True
        self._dirty[trace.trace_id] = trace
        self._dirty.move_to_end(trace.trace_id)

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
            settled = self._take_settled_locked()
        self._emit(out, settled)

    def drain(self) -> None:
        """Decides every trace with what it has (shutdown) and forgets them all."""
        out: list[Segment] = []
        with self._lock:
            for trace in list(self._traces.values()):
                self._push_out_locked(trace, out, counted=False)
            settled = self._take_settled_locked()
        self._emit(out, settled)

    def _emit(self, out: list[Segment], settled: list[Settled] | None = None) -> None:
        # Settled traces: a "sending" mark before their segments reach the client, the pins
        # released after (the delivery cycle then knows the segments are with the emitter).
        if settled:
            self._ledger.mark_sending(settled)
        if out:
            self._submit(out)
        if settled:
            self._ledger.release(settled)

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
        state = trace.spool
        if state is None:
            self._resolve_locked(trace, final, out)
            return
        before = len(out)
        if state.spilled:
            waits = decide_spilled(self, trace, final, out)
        else:
            self._resolve_locked(trace, final, out)
            waits = bool(trace.pending)
        emitted = len(out) - before
        if emitted:
            state.unmarked = True
            if state.replayed:
                self.stats.runs_replayed += emitted
                if state.resend:
                    self.stats.runs_resent += emitted
        if not waits:
            state.replayed = state.resend = False  # what was read back is decided: later spans are new
        if state.files and not waits:
            self._settled.append(Settled(trace.trace_id, state.last_seq, tuple(state.files), state.unmarked))
            state.files.clear()
            state.unmarked = False

    def _resolve_locked(self, trace: _Trace, final: bool, out: list[Segment]) -> None:
        decide_pending(trace, final, out, self.stats, self._contexts)
