"""Reading run spans on the emitter thread: RunTable keeps ended spans (bounded), the emitter reads them.

These drive RunTable and SegmentEmitter directly, with real SDK spans and a
real LDClient sending to the loopback sink; the processor opts in by passing
``ended_span`` to ``RunTable.end`` and ``observe`` to the emitter.
"""

from __future__ import annotations

import gc
import logging
import threading
import weakref

from genai import by_key, chat, tool, values
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.dialects.reader import Dialects
from ldai_otel.live.emitter import SegmentEmitter
from ldai_otel.live.run_table import RunTable
from ldai_otel.model.run import ORIGIN, Binding, RunInfo
from ldai_otel.testing import flush_events

RUN_ID = "6b1f3c2a-0000-4000-8000-00000000abcd"


class Ended(SpanProcessor):
    """Collects the ReadableSpans the SDK hands to on_end."""

    def __init__(self) -> None:
        self.spans = []

    def on_end(self, span) -> None:
        self.spans.append(span)


def ended_spans(build) -> list:
    provider = TracerProvider()
    ended = Ended()
    provider.add_span_processor(ended)
    build(provider.get_tracer("tests"))
    provider.shutdown()
    return ended.spans


def binding(user) -> Binding:
    info = RunInfo("chat-config", "v-chat", 3, user, model_name="gpt-test", provider_name="openai")
    return Binding.create(RUN_ID, info, ORIGIN)


def test_ended_spans_wait_in_the_segment_until_it_closes_and_the_hold_is_bounded(user):
    def build(tracer):
        for n in range(3):
            chat(tracer, n, 1)

    spans = ended_spans(build)
    table = RunTable(max_open_runs=10, max_segment_age_s=600, max_pending_spans=2)
    root_id = 1
    table.start(root_id, 0, binding(user), local_root=True)
    for span in spans:
        table.start(span.context.span_id, root_id, binding(user), local_root=False)

    assert table.can_defer
    table.end(spans[0].context.span_id, None, False, 1, 2, ended_span=spans[0])
    table.end(spans[1].context.span_id, None, False, 1, 2, ended_span=spans[1])
    assert table.pending_spans == 2
    assert not table.can_defer  # the bound: callers now read spans at once
    assert table.end(spans[2].context.span_id, None, False, 1, 2) is None

    closed = table.end(root_id, None, False, 1, 5)
    assert closed is not None and closed.closed
    assert [s.context.span_id for s in closed.pending] == [s.context.span_id for s in spans[:2]]
    assert table.pending_spans == 0 and table.can_defer  # released to the emitter's queue
    assert table.members == {} and table.open_runs == 0


def test_reset_after_fork_empties_the_tables_in_place(user):
    table = RunTable(max_open_runs=10, max_segment_age_s=600)
    members = table.members
    table.start(1, 0, binding(user), local_root=True)
    table.start(2, 1, binding(user), local_root=False)
    table.end(2, None, False, 1, 2, ended_span=object())
    assert members and table.pending_spans == 1  # the dict the processor reads without the lock
    table.reset()
    assert table.members is members and members == {}
    assert table.open_runs == 0 and table.pending_spans == 0


def test_the_emitter_reads_pending_spans_and_emits_exact_metrics(user, ld_client, sink, caplog):
    def build(tracer):
        chat(tracer, 30, 12)
        with tool(tracer, "search"):
            pass
        chat(tracer, 5, 3)
        tracer.start_span("plain").end()

    spans = ended_spans(build)
    table = RunTable(max_open_runs=10, max_segment_age_s=600)
    root_id = 1
    table.start(root_id, 0, binding(user), local_root=True)
    for span in spans:
        table.start(span.context.span_id, root_id, binding(user), local_root=False)
    for span in spans:
        table.end(span.context.span_id, None, False, span.start_time, span.end_time, ended_span=span)
    closed = table.end(root_id, None, False, spans[0].start_time, spans[-1].end_time)
    assert closed is not None

    dialects = Dialects()
    emitted = []
    emitter = SegmentEmitter(
        ld_client,
        tick=lambda: None,
        observe=dialects.observe,
        on_emitted=lambda segment, summary: emitted.append(summary),
    )
    try:
        emitter.submit([closed])
        assert emitter.flush(10.0) is True
    finally:
        emitter.shutdown(10.0)

    assert closed.pending == []
    assert len(closed.observations) == 3  # two chats and the tool; the plain span says nothing
    got = values(flush_events(ld_client, sink))
    assert got["$ld:ai:tokens:input"] == 35
    assert got["$ld:ai:tokens:output"] == 15
    assert got["$ld:ai:tool_call"] == ["search"]
    assert got["$ld:ai:generation:success"] == 1
    assert {e["data"]["runId"] for e in sink.ai_events()} == {RUN_ID}
    assert len(emitted) == 1


def test_a_span_that_cannot_be_read_is_skipped_and_the_others_still_count(user, ld_client, sink, caplog):
    spans = ended_spans(lambda tracer: (chat(tracer, 7, 1), chat(tracer, 9, 1)))
    table = RunTable(max_open_runs=10, max_segment_age_s=600)
    table.start(1, 0, binding(user), local_root=True)
    for span in spans:
        table.start(span.context.span_id, 1, binding(user), local_root=False)
        table.end(span.context.span_id, None, False, span.start_time, span.end_time, ended_span=span)
    closed = table.end(1, None, False, spans[0].start_time, spans[-1].end_time)

    dialects = Dialects()
    poisoned = spans[0].context.span_id

    def observe(span):
        if span.context.span_id == poisoned:
            raise RuntimeError("unreadable span")
        return dialects.observe(span)

    emitter = SegmentEmitter(ld_client, tick=lambda: None, observe=observe)
    with caplog.at_level(logging.ERROR, logger="ldai_otel"):
        emitter.submit([closed])
        assert emitter.flush(10.0) is True
        emitter.shutdown(10.0)
    assert "reading a span of run" in caplog.text
    grouped = by_key(flush_events(ld_client, sink))
    assert [e["metricValue"] for e in grouped["$ld:ai:tokens:input"]] == [9]


class WeaklyEnded(SpanProcessor):
    """Remembers, by name, weak references to the ReadableSpans handed to on_end."""

    def __init__(self) -> None:
        self.refs = {}

    def on_end(self, span) -> None:
        self.refs[span.name] = weakref.ref(span)


def test_only_spans_a_dialect_marks_are_held_for_the_emitter(ld_client, sink, chat_config, user):
    # No exporter here: it would keep every span alive.
    provider = TracerProvider()
    processor = LDAISpanProcessor(ld_client)
    ended = WeaklyEnded()
    provider.add_span_processor(processor)
    provider.add_span_processor(ended)
    tracer = provider.get_tracer("tests")
    try:
        with ai_run(chat_config, user, tracer_provider=provider):
            tracer.start_span("SELECT orders", attributes={"db.system.name": "postgresql"}).end()
            chat(tracer, 30, 12)
            with tool(tracer, "search"):
                pass
            gc.collect()
            # The database span says nothing to any dialect: nothing keeps it.
            assert ended.refs["SELECT orders"]() is None
            # GenAI spans wait in their open segment for the emitter to read.
            assert ended.refs["chat gpt-test"]() is not None
            assert ended.refs["execute_tool search"]() is not None
        got = values(flush_events(ld_client, sink, processor))
    finally:
        provider.shutdown()
    assert got["$ld:ai:tokens:input"] == 30
    assert got["$ld:ai:tokens:output"] == 12
    assert got["$ld:ai:tool_call"] == ["search"]
    assert got["$ld:ai:generation:success"] == 1
    gc.collect()
    assert all(ref() is None for ref in ended.refs.values())  # emitted: released


def test_the_emitter_emits_a_lone_segment_without_being_flushed(user, ld_client, sink):
    spans = ended_spans(lambda tracer: chat(tracer, 4, 2))
    table = RunTable(max_open_runs=10, max_segment_age_s=600)
    table.start(1, 0, binding(user), local_root=True)
    span = spans[0]
    table.start(span.context.span_id, 1, binding(user), local_root=False)
    table.end(span.context.span_id, None, False, span.start_time, span.end_time, ended_span=span)
    closed = table.end(1, None, False, span.start_time, span.end_time)

    done = threading.Event()
    emitter = SegmentEmitter(
        ld_client,
        tick=lambda: None,
        observe=Dialects().observe,
        batch_interval_s=0.05,
        on_emitted=lambda segment, summary: done.set(),
    )
    try:
        emitter.submit([closed])
        # Batching delays emission by at most its interval; no flush() needed.
        assert done.wait(30.0)
    finally:
        emitter.shutdown(10.0)
    got = values(flush_events(ld_client, sink))
    assert got["$ld:ai:tokens:total"] == 6
    assert {e["data"]["runId"] for e in sink.ai_events()} == {RUN_ID}
