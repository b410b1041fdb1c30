"""Traces kept in the spool instead of memory: what the trace buffer remembers of each (``serve.traces``).

With a spool every span serve holds is already on disk, so a trace that passes
``max_spans_per_trace`` need not be decided early without its root: it is
*spilled*. Its facts leave memory; what stays is where its records are, its
marked spans (run roots, few) and which of its spans were decided. When it is
quiet for the decision wait (or its retention ends) its spans are read back
from the spool, decided like any trace's, and leave memory again. A run whose
children arrive over minutes, root last, is so emitted whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ldai_otel.otlp.assembly import SpanFacts
from ldai_otel.serve.spool import Position

Reload = Callable[[int, list[Position]], list[tuple[int, SpanFacts]]]
"""Reads a trace's spans back from its spool records: (trace id, records) to (sequence number, facts)."""


class SpoolState:
    """A trace's place in the spool: its records, the files it pins, its spill state."""

    __slots__ = (
        "records",
        "files",
        "last_seq",
        "unmarked",
        "replayed",
        "resend",
        "spilled",
        "decided_seq",
        "done",
        "kept",
    )

    def __init__(self, replayed: bool = False):
        self.records: list[Position] = []
        self.files: set[int] = set()
        """Files it pins: spans taken from them since it last settled."""
        self.last_seq = -1
        self.unmarked = False
        """Segments emitted since it last settled (a delivered mark is due)."""
        self.replayed = replayed
        self.resend = False
        """Marked sending, not delivered, by the previous process: a run it emits may be a re-send."""
        self.spilled = False
        self.decided_seq = -1
        """Spilled: spans of records up to this one are decided, but for ``kept``."""
        self.done: set[int] = set()
        """Spilled: spans decided before the spill (in records past ``decided_seq``)."""
        self.kept: dict[int, SpanFacts] = {}
        """Spilled: spans still waiting after a decision that emitted (few)."""

    def note(self, position: Position, pin: Callable[[int], None] | None) -> None:
        """A span of this trace came in the record at ``position``; ``pin`` its file unless already."""
        if not self.records or self.records[-1].seq != position.seq:
            self.records.append(position)
        if position.seq > self.last_seq:
            self.last_seq = position.seq
        if pin is not None and position.file not in self.files:
            self.files.add(position.file)
            pin(position.file)


def spill_start(buffer: Any, trace: Any) -> int:
    """Moves a trace's facts out of memory; returns how many spans it held."""
    state: SpoolState = trace.spool
    held = len(trace.parents)
    state.spilled = True
    state.done = {span_id for span_id in trace.parents if span_id not in trace.pending}
    trace.parents = {}
    trace.pending = {}
    buffer.stats.traces_spilled += 1
    return held


def spill_add(trace: Any, facts: SpanFacts) -> None:
    """A span of a spilled trace: its record is noted already; only a mark stays in memory."""
    if facts.mark is not None:
        trace.marks[facts.span_id] = facts.mark
        trace.roots[facts.span_id] = facts


def decide_spilled(buffer: Any, trace: Any, final: bool, out: list[Any]) -> bool:
    """Reads a spilled trace back and decides it (``TraceBuffer._resolve_locked``); True if spans still wait.

    Spans decided once are not decided again: those of records up to
    ``decided_seq`` (advanced when a decision emitted something, or was final)
    and those in ``done``; the few still waiting after such a decision stay in
    memory (``kept``), more than ``max_spans_per_trace`` of them are dropped, counted.
    """
    state: SpoolState = trace.spool
    loaded = buffer._reload(trace.trace_id, state.records)
    trace.parents = {facts.span_id: facts.parent_id for _, facts in loaded}
    pending = dict(state.kept)
    highest = state.decided_seq
    for seq, facts in loaded:
        highest = max(highest, seq)
        if seq > state.decided_seq and facts.span_id not in state.done:
            pending[facts.span_id] = facts
    trace.pending = pending
    before = len(out)
    buffer._resolve_locked(trace, final, out)
    waiting = trace.pending
    if len(out) > before or final:
        state.decided_seq = highest
        state.done = set()
        if len(waiting) > buffer._max_spans_per_trace:
            buffer.stats.spans_unresolved += len(waiting)
            waiting = {}
        state.kept = waiting
        still = bool(waiting)
    else:
        still = bool(waiting)  # nothing decided: all of it is read back next time
    trace.parents = {}
    trace.pending = {}
    return still
