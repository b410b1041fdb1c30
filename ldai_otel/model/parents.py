"""Walking a span's parent chain: the one walk, with the one bound every reader shares.

Span ids link a span to its parent (``parents``: span id -> parent span id, 0
for a trace's root). The rule book (nearest agent, top-level GenAI spans), the
model-call grouping (nested calls), the graph rules (which node a span is
under) and the trace assembler (which run a span is in) all walk that chain;
they walk it here, so a corrupt or cyclic parent map stops everywhere at the
same depth.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

MAX_DEPTH = 512
"""Most links followed up one chain: a corrupt or cyclic parent map cannot loop.

Real chains are a few dozen spans deep at most (a framework's steps inside an
agent inside a graph inside a request), also across services; a chain longer
than this is cut there, as if its top were a trace root.
"""


def chain(first: int, parents: Mapping[int, int]) -> Iterator[int]:
    """``first`` and then its ancestors in ``parents``, nearest first.

    Stops at a 0 link (a trace root), at a span ``parents`` does not know, or
    after :data:`MAX_DEPTH` ids.

    Args:
        first: The first span id yielded (0 yields nothing).
        parents: span id -> parent span id.
    """
    span_id = first
    for _ in range(MAX_DEPTH):
        if not span_id:
            return
        yield span_id
        span_id = parents.get(span_id, 0)


def ancestors(span_id: int, parents: Mapping[int, int]) -> Iterator[int]:
    """The ancestors of ``span_id`` in ``parents``, nearest first (see :func:`chain`)."""
    return chain(parents.get(span_id, 0), parents)
