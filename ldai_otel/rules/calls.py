"""One model call counts once: which model-call spans of a segment saw the same call.

A call made with two or three instrumentations on (a framework's and the
client's, or a vendor SDK's own spans next to an instrumentation's) leaves one
model-call span per instrumentation, nested, siblings, or in different
branches of the run. The rule (docs/dialects.md, "No double counting"):

1. Spans that share a response id (``gen_ai.response.id``) are one call, when
   that id appears on at most one span per instrumentation scope (a stub or
   proxy that answers every call with one id is not evidence).
2. Else spans of two different scopes are candidates when their intervals
   contain one another (within a small slack: two wrappers of one stream end
   a fraction of a millisecond apart, in either order) or one is an ancestor
   of the other, and their input counts agree or one side has no usage
   (nested spans are candidates even when their counts differ: the inner one
   wins; contained ones whose output counts differ only when unambiguous, as
   Traceloop anthropic miscounts a stream's output). The match between two
   scopes is one-to-one:
   - a maximum matching is made over the pairs that look like one call seen
     twice: both with usage that agrees, a usage-less span around one with
     usage, or neither with usage; usage-less wrappers are matched first, so
     a span a wrapper could hold is not joined to another usage-carrying
     span's call. Where several pairings are possible (concurrent calls with
     one prompt, a LangChain ``batch()``), each gives the same counts;
   - a usage-less span inside one with usage (a failed attempt, or another
     call) is merged only when the pair is in every maximum matching of what
     is left: an ambiguous pairing is not guessed.
3. Two spans of one scope are never one call.

Within a call the innermost span (the closest to the HTTP call: the shortest; of
two wrappers with the same interval up to the slack, the one that started last)
wins where spans disagree (tokens, time to first token, tool calls, status).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cmp_to_key

from ldai_otel.model.observation import MODEL, Observation
from ldai_otel.model.parents import chain

MAX_COMPONENT = 64
"""Largest set of mutually overlapping candidates matched; past it, none is merged."""
SLACK_NS = 2_000_000
"""Containment slack: spans of one call may end this far apart (or a tenth of the shorter one)."""


class _Calls:
    """Union-find over model-call spans; each set knows its scopes and hull."""

    def __init__(self, spans: Sequence[Observation]) -> None:
        self.spans = spans
        self.parent = list(range(len(spans)))
        self.scopes: list[frozenset[str]] = [frozenset((o.scope,)) for o in spans]

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.root(a), self.root(b)
        if ra == rb or self.scopes[ra] & self.scopes[rb]:
            return False  # never two spans of one scope in one call
        self.parent[rb] = ra
        self.scopes[ra] = self.scopes[ra] | self.scopes[rb]
        return True

    def members(self) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for i in range(len(self.spans)):
            groups.setdefault(self.root(i), []).append(i)
        return groups


def _inner_order(a: Observation, b: Observation) -> int:
    """Negative when ``a`` is closer to the HTTP call than ``b``, positive when ``b`` is.

    Two spans with the same interval up to the slack are two wrappers of one call (contrib
    botocore and OpenLLMetry bedrock on a stream end a fraction of a millisecond apart, in
    either order): the inner one starts last. Otherwise the shorter one is inside the other
    (nested, or the client span within a framework's span). Ties: the older span id.
    """
    a_len, b_len = a.end_ns - a.start_ns, b.end_ns - b.start_ns
    slack = max(SLACK_NS, min(a_len, b_len) // 10)
    if abs(a_len - b_len) <= slack and abs(a.start_ns - b.start_ns) <= slack and a.start_ns != b.start_ns:
        return -1 if a.start_ns > b.start_ns else 1
    if a_len != b_len:
        return -1 if a_len < b_len else 1
    return (a.span_id > b.span_id) - (a.span_id < b.span_id)


innermost_first = cmp_to_key(_inner_order)
"""Sort key: the innermost span of a call first (see :func:`_inner_order`)."""


def model_calls(observations: Iterable[Observation], parents: dict[int, int] | None = None) -> list[list[Observation]]:
    """The model calls among ``observations``: each the spans that saw it, innermost first.

    Args:
        observations: A segment's observations (any kind; only model calls are grouped).
        parents: span id -> parent span id within the segment, to recognize
            nesting through spans that are not GenAI.

    Returns:
        The calls in the order they were made (by their innermost span's start).
    """
    spans = [o for o in observations if o.kind == MODEL]
    calls = _Calls(spans)
    _merge_shared_response_ids(calls)
    scopes = sorted({o.scope for o in spans})
    if len(scopes) > 1:
        ancestors = _model_ancestors(spans, parents or {})
        for i, left in enumerate(scopes):
            for right in scopes[i + 1 :]:
                _merge_one_to_one(calls, left, right, ancestors)
    grouped = [sorted((spans[i] for i in members), key=innermost_first) for members in calls.members().values()]
    grouped.sort(key=lambda call: (call[0].start_ns, call[0].end_ns))
    return grouped


def _merge_shared_response_ids(calls: _Calls) -> None:
    by_id: dict[str, list[int]] = {}
    for i, obs in enumerate(calls.spans):
        if obs.response_id:
            by_id.setdefault(obs.response_id, []).append(i)
    for members in by_id.values():
        if len(members) < 2:
            continue
        scopes = [calls.spans[i].scope for i in members]
        if len(set(scopes)) != len(scopes):
            continue  # one id on two calls of one scope: not a call's identity
        for i in members[1:]:
            calls.union(members[0], i)


def _model_ancestors(spans: Sequence[Observation], parents: dict[int, int]) -> list[frozenset[int]]:
    """For each span, the span ids of its ancestors that are model calls of the segment."""
    model_ids = {o.span_id for o in spans}
    found = []
    for obs in spans:
        found.append(frozenset(p for p in chain(obs.parent_id, parents) if p in model_ids))
    return found


class _Group:
    """One call so far, as the matching sees it."""

    __slots__ = ("root", "start", "end", "ids", "ancestors", "input_tokens", "output_tokens", "has_usage")

    def __init__(self, calls: _Calls, root: int, members: list[int], ancestors: list[frozenset[int]]) -> None:
        spans = [calls.spans[i] for i in members]
        self.root = root
        self.start = min(o.start_ns for o in spans)
        self.end = max(o.end_ns for o in spans)
        self.ids = frozenset(o.span_id for o in spans)
        self.ancestors = frozenset().union(*(ancestors[i] for i in members))
        with_usage = next((o for o in sorted(spans, key=innermost_first) if o.has_usage), None)
        self.has_usage = with_usage is not None
        self.input_tokens = with_usage.input_tokens if with_usage is not None else None
        self.output_tokens = with_usage.output_tokens if with_usage is not None else None


def _contained(a: _Group, b: _Group) -> bool:
    """Whether the shorter of ``a`` and ``b`` lies within the other, up to the slack."""
    shorter = min(a.end - a.start, b.end - b.start)
    slack = max(SLACK_NS, shorter // 10)
    overlap = min(a.end, b.end) - max(a.start, b.start)
    return overlap >= shorter - slack


ATTEMPT, WRAPPER, AGREE = 1, 2, 3
"""Candidate strengths: a usage-less span inside one with usage (a failed or unmetered
attempt, or another call); a usage-less span around one with usage, or neither with
usage (the usual shape of one call seen twice); both with usage, same input count."""


def _candidate(a: _Group, b: _Group) -> int:
    """0 when ``a`` and ``b`` cannot be one call, else how strongly they may be (see above)."""
    nested = bool(a.ids & b.ancestors or b.ids & a.ancestors)
    if not (nested or _contained(a, b)):
        return 0
    if a.has_usage and b.has_usage:
        if a.input_tokens is not None and b.input_tokens is not None and a.input_tokens != b.input_tokens:
            # Nested spans that disagree are still one call (the inner one wins);
            # contained ones are two prompts.
            return WRAPPER if nested else 0
        if a.output_tokens is not None and b.output_tokens is not None and a.output_tokens != b.output_tokens:
            # Same prompt, other output: another call, or an instrumentation that
            # miscounts a stream's output (Traceloop anthropic): only when unambiguous.
            return WRAPPER if nested else ATTEMPT
        return AGREE
    if not a.has_usage and not b.has_usage:
        return WRAPPER
    without, with_usage = (a, b) if not a.has_usage else (b, a)
    return WRAPPER if without.end - without.start >= with_usage.end - with_usage.start else ATTEMPT


def _merge_one_to_one(calls: _Calls, left_scope: str, right_scope: str, ancestors: list[frozenset[int]]) -> None:
    for phase in (WRAPPER, ATTEMPT):
        groups = calls.members()
        lefts: list[_Group] = []
        rights: list[_Group] = []
        for root, members in groups.items():
            scopes = calls.scopes[root]
            if left_scope in scopes and right_scope not in scopes:
                lefts.append(_Group(calls, root, members, ancestors))
            elif right_scope in scopes and left_scope not in scopes:
                rights.append(_Group(calls, root, members, ancestors))
        if not lefts or not rights:
            return
        edges = _edges(lefts, rights)
        if phase == WRAPPER:
            pairs = _matched_pairs(edges, lefts, rights)
        else:
            pairs = _forced_pairs({a: [b for b, _ in bs] for a, bs in edges.items()})
        for a, b in pairs:
            calls.union(lefts[a].root, rights[b].root)


def _edges(lefts: list[_Group], rights: list[_Group]) -> dict[int, list[tuple[int, int]]]:
    """left index -> (right index, strength) of the groups that may be the same call."""
    # A sweep by start time: only overlapping groups are compared, so
    # sequential calls cost a sort, not a square.
    order = sorted(
        [(g.start, g.end, 0, i) for i, g in enumerate(lefts)] + [(g.start, g.end, 1, i) for i, g in enumerate(rights)]
    )
    edges: dict[int, list[tuple[int, int]]] = {}
    open_groups: list[tuple[int, int, int]] = []  # (end, side, index)
    for start, end, side, index in order:
        open_groups = [g for g in open_groups if g[0] + SLACK_NS >= start]
        for _, other_side, other in open_groups:
            if other_side == side:
                continue
            a, b = (index, other) if side == 0 else (other, index)
            strength = _candidate(lefts[a], rights[b])
            if strength:
                edges.setdefault(a, []).append((b, strength))
        open_groups.append((end, side, index))
    # Nesting can hold without overlap in time (a child that outlives its
    # parent's end on another clock): pairs through the parent links too.
    left_of = {span_id: a for a, g in enumerate(lefts) for span_id in g.ids}
    right_of = {span_id: b for b, g in enumerate(rights) for span_id in g.ids}
    nested = {(left_of[i], b) for b, g in enumerate(rights) for i in g.ancestors if i in left_of}
    nested |= {(a, right_of[i]) for a, g in enumerate(lefts) for i in g.ancestors if i in right_of}
    for a, b in sorted(nested):
        strength = _candidate(lefts[a], rights[b])
        if strength and all(b != known for known, _ in edges.get(a, ())):
            edges.setdefault(a, []).append((b, strength))
    return edges


def _matched_pairs(
    edges: dict[int, list[tuple[int, int]]], lefts: list[_Group], rights: list[_Group]
) -> list[tuple[int, int]]:
    """One maximum matching over the wrapper and agreeing candidates, closest intervals tried first.

    Wrapper pairs are matched first and agreeing pairs then added by
    augmenting paths: where a usage-less wrapper could hold a span, it does,
    rather than that span joining another usage-carrying span's call (which
    could join two calls); where every pairing agrees, the counts are the
    same whichever is made (concurrent calls with one prompt).
    """

    def closeness(a: int, b: int) -> int:
        return abs(lefts[a].start - rights[b].start) + abs(lefts[a].end - rights[b].end)

    pairs: list[tuple[int, int]] = []
    usable = {a: [(b, k) for b, k in bs if k >= WRAPPER] for a, bs in edges.items()}
    for component in _components({a: [b for b, _ in bs] for a, bs in usable.items() if bs}):
        if len(component) > MAX_COMPONENT:
            continue
        ordered = sorted(component, key=lambda a: lefts[a].start)
        wrappers = {
            a: sorted((b for b, k in usable[a] if k == WRAPPER), key=lambda b: closeness(a, b)) for a in ordered
        }
        every = {a: sorted((b for b, _ in usable[a]), key=lambda b: closeness(a, b)) for a in ordered}
        match = _max_matching(wrappers)
        for a in ordered:
            if a not in match.values():
                _augment(a, every, match, set())
        pairs.extend((a, b) for b, a in match.items())
    return pairs


def _forced_pairs(edges: dict[int, list[int]]) -> list[tuple[int, int]]:
    """The pairs that are in every maximum matching of the bipartite graph ``edges``."""
    forced: list[tuple[int, int]] = []
    for component in _components(edges):
        if len(component) > MAX_COMPONENT:
            continue
        sub = {a: edges[a] for a in component}
        match = _max_matching(sub)
        for b, a in list(match.items()):
            # Without the pair (a, b), can a matching as large still be found?
            # Only if an augmenting path starts at some free left node.
            trial = {k: v for k, v in match.items() if k != b}
            matched = set(trial.values())
            if not any(_augment(free, sub, trial, set(), banned=(a, b)) for free in sub if free not in matched):
                forced.append((a, b))
    return forced


def _components(edges: dict[int, list[int]]) -> list[list[int]]:
    """Left indexes grouped by connected component."""
    by_right: dict[int, list[int]] = {}
    for a, bs in edges.items():
        for b in bs:
            by_right.setdefault(b, []).append(a)
    seen: set[int] = set()
    components = []
    for start in edges:
        if start in seen:
            continue
        stack, component = [start], []
        seen.add(start)
        while stack:
            a = stack.pop()
            component.append(a)
            for b in edges[a]:
                for other in by_right[b]:
                    if other not in seen:
                        seen.add(other)
                        stack.append(other)
        components.append(component)
    return components


def _max_matching(edges: dict[int, list[int]]) -> dict[int, int]:
    """right -> left of one maximum matching (augmenting paths; the graphs are small)."""
    match: dict[int, int] = {}
    for a in edges:
        _augment(a, edges, match, set())
    return match


def _augment(
    a: int, edges: dict[int, list[int]], match: dict[int, int], seen: set[int], banned: tuple[int, int] | None = None
) -> bool:
    for b in edges[a]:
        if (a, b) == banned or b in seen:
            continue
        seen.add(b)
        if b not in match or _augment(match[b], edges, match, seen, banned):
            match[b] = a
            return True
    return False
