"""A segment: what one source saw of one run between opening and closing (docs/design.md, "Segments").

The one segment type and its one factory for the three sources: the
processor's run table opens a :class:`Segment` and fills it as spans end;
readers of ended spans (``inspect``, ``serve``) and the graph node runs build
a closed one with :func:`closed_segment`. :func:`split_at_close` is the rule
by which a segment closes, written for spans already ended, so that every
source cuts a run into the same segments.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ldai_otel.model.observation import Observation
from ldai_otel.model.run import Binding


class Segment:
    """What this process saw of one run between opening and closing.

    Mutated only under the owning :class:`RunTable`'s lock; read by
    ``rules.book.summarize`` only once closed, when nothing mutates it any more.
    """

    __slots__ = (
        "binding",
        "role",
        "created",
        "root_span_id",
        "root_ended",
        "root_error",
        "root_start_ns",
        "root_end_ns",
        "open_spans",
        "parents",
        "observations",
        "pending",
        "closed",
        "carried",
        "outcome_deferred",
    )

    def __init__(self, binding: Binding, role: str, root_span_id: int, carried: bool = False):
        self.binding = binding
        self.role = role
        self.created = time.monotonic()
        self.root_span_id = root_span_id
        self.root_ended = False
        self.root_error = False
        self.root_start_ns = 0
        self.root_end_ns = 0
        self.open_spans: set[int] = set()
        self.parents: dict[int, int] = {}
        self.observations: list[Observation] = []
        # Ended spans not yet read by the dialects: reading them is left to
        # the emitter thread, off the app's (see RunTable.end).
        self.pending: list[Any] = []
        self.closed = False
        # True for a segment that took over still-open spans of an evicted one.
        self.carried = carried
        # True when this segment was evicted before its root ended: the root's
        # duration and outcome are emitted by the successor that carries it.
        self.outcome_deferred = False


def closed_segment(
    binding: Binding,
    role: str,
    observations: Iterable[Observation],
    parents: Mapping[int, int],
    root: Any = None,
    *,
    root_error: bool | None = None,
    outcome_deferred: bool = False,
) -> Segment:
    """A closed segment, ready for the rule book (the factory every reader of ended spans uses).

    Args:
        binding: The run's identity and config.
        role: The segment's role (``model.roles.decide_role``).
        observations: What its spans say.
        parents: Span id -> parent span id, at least for its members.
        root: The span (facts or observation: ``span_id``, ``start_ns``, ``end_ns``,
            ``error``) whose interval and status give duration and outcome; None
            when the segment has no local root here.
        root_error: The outcome, when it is not the root's own status (a graph
            node: any of its agent runs failed).
        outcome_deferred: Its duration and outcome are emitted by a successor.
    """
    segment = Segment(binding, role, root.span_id if root is not None else 0)
    segment.parents = parents if isinstance(parents, dict) else dict(parents)
    segment.observations = list(observations)
    if root is not None:
        segment.root_ended = True
        segment.root_error = root.error if root_error is None else root_error
        segment.root_start_ns = root.start_ns
        segment.root_end_ns = root.end_ns
    segment.outcome_deferred = outcome_deferred
    segment.closed = True
    return segment


class _Timed(Protocol):
    @property
    def start_ns(self) -> int: ...

    @property
    def end_ns(self) -> int: ...


T = TypeVar("T", bound=_Timed)


def split_at_close(spans: Sequence[T]) -> list[list[T]]:
    """The segments ended spans form by the processor's closing rule.

    The processor closes a segment when no span of it is open (and its local
    root, if any, has ended); a span of the run that starts after that opens the
    next segment. From ended spans: in start order, a span that starts while the
    current segment is still open (at or before the latest end seen so far) is
    in it; one that starts later opens the next. Readers apply it to a run's
    late spans (``otlp.assembly.form_segments``), which the processor marks.

    Args:
        spans: The spans (every span, not only GenAI ones: an open HTTP span
            keeps a segment open too).

    Returns:
        The spans of each segment, in order; the first holds the earliest span.
    """
    groups: list[list[T]] = []
    close = 0
    for span in sorted(spans, key=lambda s: s.start_ns):
        if groups and span.start_ns <= close:
            groups[-1].append(span)
            close = max(close, span.end_ns)
        else:
            groups.append([span])
            close = span.end_ns
    return groups
