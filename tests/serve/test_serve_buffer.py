"""The trace buffer behind ``ldai-otel serve``: decisions, roles and bounds, on a clock the test drives.

The spans are facts as the OTLP decoder makes them; the clock is passed in, so
no test waits. What the segments emit is the rule book's (``summarize``).
"""

from __future__ import annotations

import pytest

from ldai_otel.model.observation import MODEL, Observation
from ldai_otel.model.run import CONTINUATION, ORIGIN, RESUMED
from ldai_otel.otlp.assembly import RunMark, SpanFacts
from ldai_otel.rules.book import summarize
from ldai_otel.serve.traces import BUFFER_FULL, TOO_MANY_SPANS, Refused, TraceBuffer

TRACE = 0xABC
MARK = RunMark(run_id="run-1", config_key="chat-config", variation_key="v", version=2, service="a")


def span(span_id: int, parent_id: int, service: str = "a", mark=None, tokens: int | None = None, start=0, end=10):
    facts = SpanFacts(TRACE, span_id, parent_id)
    facts.service = service
    facts.start_ns, facts.end_ns = start * 1_000_000, end * 1_000_000
    facts.mark = mark
    if tokens is not None:
        facts.observation = Observation(kind=MODEL, input_tokens=tokens, output_tokens=1)
        facts.observation.span_id, facts.observation.parent_id = span_id, parent_id
        facts.observation.start_ns, facts.observation.end_ns = facts.start_ns, facts.end_ns
    return facts


def buffer(**bounds):
    out: list = []
    return TraceBuffer(out.extend, decision_wait_s=5.0, **bounds), out


def test_a_child_waits_for_its_chain_and_a_stamped_member_is_not_taken_for_the_root():
    buf, out = buffer()
    stamped_chat = span(3, 2, mark=MARK, tokens=7, start=2, end=4)  # the processor stamps GenAI spans too
    buf.add([stamped_chat, span(4, 2, tokens=5, start=5, end=6)], now=0.0)
    buf.tick(now=100.0)
    assert out == []  # span 2 (their parent) has not arrived: the root is undecided
    buf.add([span(2, 1, service="b")], now=100.0)
    buf.add([span(1, 0, mark=MARK, start=0, end=20)], now=101.0)
    buf.tick(now=105.5)
    assert out == []  # quiet for 4.5 s of the 5 s wait
    buf.tick(now=106.0)
    (segment,) = out
    assert segment.role == ORIGIN and segment.root_span_id == 1
    summary = summarize(segment)
    assert (summary.input_tokens, summary.duration_ms, summary.success) == (12, 20, True)


def test_late_spans_form_a_continuation_and_a_repeated_span_counts_once():
    buf, out = buffer()
    buf.add([span(1, 0, mark=MARK, end=20), span(2, 1, tokens=3)], now=0.0)
    buf.tick(now=5.0)
    buf.add([span(3, 2, tokens=40, start=30, end=31)], now=10.0)
    buf.add([span(3, 2, tokens=40, start=30, end=31), span(2, 1, tokens=3)], now=11.0)  # retries
    buf.tick(now=16.0)
    first, late = out
    assert (first.role, late.role) == (ORIGIN, CONTINUATION)
    assert summarize(late).input_tokens == 40 and late.root_span_id == 0
    assert buf.stats.spans_duplicate == 1  # span 2 was decided; span 3 re-sent before its decision


def test_a_root_emitted_in_process_leaves_only_the_other_services_spans_as_a_resumed_segment():
    buf, out = buffer()
    emitted = RunMark(run_id="run-1", config_key="chat-config", emitted_in_process=True, service="a")
    a_spans = [span(1, 0, mark=emitted, end=20), span(2, 1, tokens=9)]
    buf.add(a_spans + [span(3, 1, service="b"), span(4, 3, "b", tokens=4)])
    buf.drain()
    (segment,) = out
    assert segment.role == RESUMED
    assert summarize(segment).input_tokens == 4
    assert buf.stats.spans_emitted_in_process == 2


def in_trace(trace_id: int, *spans) -> list:
    for facts in spans:
        facts.trace_id = trace_id
    return list(spans)


def run_of(trace_id: int, tokens: int) -> list:
    root, chat = span(1, 0, mark=MARK, end=5), span(2, 1, tokens=tokens)
    root.trace_id = chat.trace_id = trace_id
    return [root, chat]


def test_a_full_buffer_refuses_the_whole_request_until_quiet_traces_make_room():
    buf, out = buffer(max_traces=2, max_spans=5)
    buf.add(run_of(1, 1), now=0.0)
    buf.add(run_of(2, 2), now=1.0)
    with pytest.raises(Refused) as full:
        buf.add(run_of(3, 3), now=2.0)  # a third trace: nothing is quiet yet, so nothing is cut
    assert (full.value.reason, full.value.retryable) == (BUFFER_FULL, True)
    assert (buf.traces, buf.spans, buf.stats.spans_refused_full, buf.stats.traces_cut, out) == (2, 4, 2, 0, [])
    buf.add(run_of(3, 3), now=5.5)  # trace 1 quiet for the 5 s wait: decided and forgotten
    assert [summarize(s).input_tokens for s in out] == [1]
    assert (buf.traces, buf.spans, buf.stats.traces_cut) == (2, 4, 0)
    with pytest.raises(Refused):
        buf.add(in_trace(3, span(3, 1, tokens=9), span(4, 1)), now=5.6)  # 4 + 2 spans > 5, none quiet
    buf.tick(now=7.0)  # trace 2 decided by the tick; its parents are remembered for late spans
    assert sorted(summarize(s).input_tokens for s in out) == [1, 2]
    buf.add(in_trace(3, span(3, 1, tokens=9), span(4, 1)), now=7.0)  # room: decided trace 2 is forgotten
    assert (buf.traces, buf.spans, buf.stats.spans_peak) == (1, 4, 4)
    buf.drain()
    assert sorted(summarize(s).input_tokens for s in out) == [1, 2, 12]
    assert buf.stats.traces_cut == 0 and buf.stats.spans_unresolved == 0


def test_a_trace_still_missing_an_ancestor_after_the_wait_is_cut_for_room_and_counted():
    buf, out = buffer(max_spans=3)
    orphan = span(2, 1, tokens=4)  # its parent (the run's root) never arrives
    buf.add([orphan, span(3, 2)], now=0.0)
    with pytest.raises(Refused):
        buf.add(run_of(7, 1)[:2], now=4.0)
    buf.add(run_of(7, 1), now=5.0)
    assert (buf.stats.traces_cut, buf.stats.spans_unresolved, buf.spans) == (1, 2, 2)
    assert out == []  # the orphans had no run to go to


def test_a_request_over_the_whole_bound_is_refused_for_good():
    buf, _ = buffer(max_spans=3)
    with pytest.raises(Refused) as refused:
        buf.add([span(i, 0) for i in range(1, 5)], now=0.0)
    assert (refused.value.reason, refused.value.retryable) == (TOO_MANY_SPANS, False)
    assert "over --max-spans (3)" in refused.value.message and buf.spans == 0


def test_at_the_spans_per_trace_bound_the_trace_is_emitted_and_orphans_are_counted():
    buf, out = buffer(max_spans_per_trace=4)
    buf.add([span(1, 0, mark=MARK), span(2, 1, tokens=1), span(9, 8, tokens=100)], now=0.0)
    assert out == []
    buf.add([span(3, 1, tokens=2)], now=1.0)  # the fourth span: the trace is decided now
    (segment,) = out
    assert summarize(segment).input_tokens == 3
    assert (buf.traces, buf.spans, buf.stats.traces_cut, buf.stats.spans_unresolved) == (0, 0, 1, 1)


def test_retention_forgets_a_quiet_trace_and_a_span_in_no_run_is_dropped():
    buf, out = buffer(retention_s=60.0)
    buf.add([span(1, 0), span(2, 1, tokens=5)], now=0.0)  # no mark anywhere: no run
    buf.tick(now=10.0)
    assert out == [] and buf.stats.spans_in_no_run == 2 and buf.traces == 1
    buf.tick(now=61.0)
    assert buf.traces == 0 and buf.spans == 0
