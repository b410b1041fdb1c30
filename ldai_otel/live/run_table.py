"""The processor's run table: open segments and span membership, bounded and thread-safe.

The live (in-process) source of the run model: spans join a run through the
OTel context when they start, and a segment closes when its local root and
every span of it have ended (docs/design.md, "The run model").
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.model.observation import Observation
from ldai_otel.model.roles import CONTINUATION, ORIGIN, decide_role, entry_for
from ldai_otel.model.run import Binding
from ldai_otel.model.segment import Segment

if TYPE_CHECKING:
    pass

_logger = logging.getLogger(__name__)
_warn = RateLimitedLogger(_logger)


class RunTable:
    """Open segments and span membership, bounded and thread-safe.

    Args:
        max_open_runs: Most segments open at once; opening one more closes
            (and emits) the oldest.
        max_segment_age_s: A segment older than this is closed and emitted by
            :meth:`expire`, even with spans still open.
        max_spans_per_segment: Most spans one segment tracks; more spans of the
            run still count as members but are not tracked for closing.
        max_remembered_runs: How many closed runs are remembered so a later
            segment of the same run is a continuation, not a second origin.
        max_pending_spans: Most ended spans that open segments keep for the
            emitter thread to read (see :meth:`end`); past it, :attr:`can_defer`
            is False and callers read spans at once. A held span costs a few
            KB, so this bounds what deferring adds to memory.
    """

    def __init__(
        self,
        max_open_runs: int,
        max_segment_age_s: float,
        max_spans_per_segment: int = 10_000,
        max_remembered_runs: int = 10_000,
        max_pending_spans: int = 4096,
    ):
        self._max_open_runs = max_open_runs
        self._max_age_s = max_segment_age_s
        self._max_spans = max_spans_per_segment
        self._max_remembered = max_remembered_runs
        self._max_pending = max_pending_spans
        self._pending_spans = 0  # ended spans held by open segments
        # One lock guards every table below; hooks run on any app thread.
        self._lock = threading.Lock()
        self._segments: OrderedDict[tuple[str, str], Segment] = OrderedDict()
        self._members: dict[int, Segment] = {}
        self._emitted_runs: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Successors of evicted segments whose spans are still open; bounded
        # like the open table, oldest forgotten first.
        self._carried: OrderedDict[Segment, None] = OrderedDict()

    def reset(self) -> None:
        """Forget everything (in a forked child: the parent owns those runs).

        The tables are emptied in place, so a reference to :attr:`members`
        taken before the fork stays valid; the lock is new (another thread
        of the parent may have held it when the process forked).
        """
        self._lock = threading.Lock()
        self._segments.clear()
        self._members.clear()
        self._emitted_runs.clear()
        self._carried.clear()
        self._pending_spans = 0

    @property
    def members(self) -> dict[int, Segment]:
        """The live span id -> segment table, for lock-free reads on hot paths.

        Read only (``in``, ``get``, truthiness: atomic under the GIL); the
        same object for the table's whole life, forks included. An empty
        table means no run is open, so a span can skip every other check.
        """
        return self._members

    @property
    def open_runs(self) -> int:
        """How many segments are open now."""
        return len(self._segments)

    @property
    def tracked_spans(self) -> int:
        """How many open spans are tracked now."""
        return len(self._members)

    @property
    def can_defer(self) -> bool:
        """Whether :meth:`end` may keep one more ended span for the emitter.

        A lock-free read: the bound it keeps is approximate under races
        (by at most the number of concurrent callers).
        """
        return self._pending_spans < self._max_pending

    @property
    def pending_spans(self) -> int:
        """How many ended spans open segments hold for the emitter."""
        return self._pending_spans

    @property
    def carried_segments(self) -> int:
        """How many successors of evicted segments wait for their open spans."""
        return len(self._carried)

    @property
    def remembered_runs(self) -> int:
        """How many closed runs are remembered (bounded by ``max_remembered_runs``)."""
        return len(self._emitted_runs)

    def start(
        self, span_id: int, parent_id: int, binding: Binding, local_root: bool
    ) -> tuple[Binding, list[Segment], str]:
        """Adds an opening span to its run's open segment, opening one if needed.

        Args:
            span_id: The span's id.
            parent_id: Its parent's id (0 for a root).
            binding: The run it belongs to.
            local_root: Whether it opens the run in this process (an ``ai_run``
                span or the first span resumed from baggage).

        Returns:
            The binding actually used (an already open segment's, so that its
            role wins), the segments evicted to make room, to emit, and the
            role of the segment the span is in (``continuation``: the processor
            writes so on the span, ``model.roles``).
        """
        evicted: list[Segment] = []
        with self._lock:
            segment = self._segments.get(binding.key)
            if segment is None:
                emitted_before = binding.key in self._emitted_runs
                role = decide_role(entry_for(binding.role), emitted_before=emitted_before)
                if emitted_before:
                    if local_root and binding.role == ORIGIN:
                        _warn.warning(
                            "ldai-otel: a second ai_run scope of config %s in one trace joined the run "
                            "after it emitted; its duration and outcome are not emitted again "
                            "(use ai_run(..., new_trace=True) for independent executions)",
                            binding.info.config_key,
                        )
                segment = Segment(binding, role, span_id if local_root else 0)
                while len(self._segments) >= self._max_open_runs:
                    self._evict_locked(next(iter(self._segments)), evicted)
                self._segments[binding.key] = segment
            elif local_root and segment.root_span_id == 0:
                segment.root_span_id = span_id
            self._track_locked(segment, span_id, parent_id)
        return segment.binding, evicted, segment.role

    def join(self, span_id: int, parent_id: int, segment: Segment) -> Binding | None:
        """Adds a span to the open segment its parent span belongs to.

        The fast path of :meth:`start` for every run span but the first:
        no segment is opened, so none is evicted.

        Returns:
            The segment's binding; None when the segment closed after the
            caller looked it up (then call :meth:`start`).
        """
        with self._lock:
            if segment.closed:
                return None
            self._track_locked(segment, span_id, parent_id)
        return segment.binding

    def _track_locked(self, segment: Segment, span_id: int, parent_id: int) -> None:
        """Makes an opening span a tracked member of ``segment``, within the bound."""
        if len(segment.open_spans) < self._max_spans:
            segment.open_spans.add(span_id)
            segment.parents[span_id] = parent_id
            self._members[span_id] = segment
        else:
            _warn.warning(
                "ldai-otel: run of config %s has over %d open spans; extra spans are not tracked",
                segment.binding.info.config_key,
                self._max_spans,
            )

    def end(
        self,
        span_id: int,
        observation: Observation | None,
        error: bool,
        start_ns: int,
        end_ns: int,
        ended_span: Any = None,
    ) -> Segment | None:
        """Records a run span's end; returns its segment if that closed it.

        Args:
            span_id: The span's id.
            observation: What the span says, when already read.
            error: Whether it ended with status ERROR.
            start_ns: Its start time.
            end_ns: Its end time.
            ended_span: The finished span itself, to be read on the emitter
                thread instead (kept in ``Segment.pending`` until then). Pass
                it only while :attr:`can_defer`; else pass ``observation``.
        """
        with self._lock:
            segment = self._members.pop(span_id, None)
            if segment is None:
                return None
            segment.open_spans.discard(span_id)
            if observation is not None:
                segment.observations.append(observation)
            if ended_span is not None:
                segment.pending.append(ended_span)
                self._pending_spans += 1
            if span_id == segment.root_span_id:
                segment.root_ended = True
                segment.root_error = error
                segment.root_start_ns = start_ns
                segment.root_end_ns = end_ns
            if (segment.root_ended or segment.root_span_id == 0) and not segment.open_spans:
                self._close_locked(segment)
                return segment
            return None

    def expire(self, now: float | None = None) -> list[Segment]:
        """Closes segments older than the maximum age; returns them to emit."""
        now = time.monotonic() if now is None else now
        expired: list[Segment] = []
        with self._lock:
            while self._segments:
                key, oldest = next(iter(self._segments.items()))
                if now - oldest.created < self._max_age_s:
                    break
                self._evict_locked(key, expired)
            while self._carried:
                oldest = next(iter(self._carried))
                if now - oldest.created < self._max_age_s:
                    break
                self._forget_carried_locked(oldest, expired)
        return expired

    def drain(self) -> list[Segment]:
        """Closes every open segment (shutdown, force_flush); returns them.

        Spans still open are carried into successor segments, as on eviction.
        """
        drained: list[Segment] = []
        with self._lock:
            for key in list(self._segments):
                self._evict_locked(key, drained)
        return drained

    def _evict_locked(self, key: tuple[str, str], out: list[Segment]) -> None:
        segment = self._segments.pop(key)
        self._close_locked(segment)
        out.append(segment)
        if segment.open_spans:
            # Spans still open form the next segment of the same run, so
            # whatever they report when they end is not lost. An open root
            # takes the run's duration and outcome along with it.
            root_open = segment.root_span_id in segment.open_spans
            successor = Segment(
                segment.binding,
                segment.role if root_open else CONTINUATION,
                segment.root_span_id if root_open else 0,
                carried=True,
            )
            segment.outcome_deferred = root_open
            successor.open_spans = segment.open_spans
            successor.parents = segment.parents
            for span_id in successor.open_spans:
                self._members[span_id] = successor
            segment.open_spans = set()
            self._carried[successor] = None
            while len(self._carried) > self._max_open_runs:
                self._forget_carried_locked(next(iter(self._carried)), out)

    def _forget_carried_locked(self, segment: Segment, out: list[Segment]) -> None:
        # Its spans already outlived one eviction: they never ended. Forget
        # them so memory stays bounded; what already ended is still emitted.
        del self._carried[segment]
        if segment.open_spans:
            _warn.warning(
                "ldai-otel: %d span(s) of a run of config %s never ended; no longer tracking them",
                len(segment.open_spans),
                segment.binding.info.config_key,
            )
            for span_id in segment.open_spans:
                self._members.pop(span_id, None)
            segment.open_spans = set()
        self._close_locked(segment)
        if segment.observations or segment.pending:
            out.append(segment)

    def _close_locked(self, segment: Segment) -> None:
        if not segment.closed:
            # Its pending spans now wait in the emitter's bounded queue.
            self._pending_spans -= len(segment.pending)
        segment.closed = True
        key = segment.binding.key
        if self._segments.get(key) is segment:
            del self._segments[key]
        self._carried.pop(segment, None)
        self._emitted_runs[key] = None
        self._emitted_runs.move_to_end(key)
        while len(self._emitted_runs) > self._max_remembered:
            self._emitted_runs.popitem(last=False)
