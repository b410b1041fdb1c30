"""A segment: what one source saw of one run between opening and closing (docs/design.md)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ldai_otel.model.observation import Observation
from ldai_otel.model.run import Binding

if TYPE_CHECKING:
    pass


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
