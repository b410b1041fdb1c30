"""Bounded state: eviction by age and by count emits, never drops; late spans form a new segment."""

from __future__ import annotations

import threading

from genai import by_key, chat, values

from ldai_otel import ai_run
from ldai_otel.testing import flush_events


class Emitted:
    """Collects on_emitted callbacks so a test can wait for background emission."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, object]] = []
        self._condition = threading.Condition()

    def __call__(self, run_id, config_key, role, summary) -> None:
        with self._condition:
            self.calls.append((run_id, config_key, role, summary))
            self._condition.notify_all()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: len(self.calls) >= count, timeout=timeout_s)


def flush_client(ld_client, sink) -> list[dict]:
    return flush_events(ld_client, sink)


def test_segment_older_than_max_age_is_emitted_and_late_span_forms_a_new_segment(
    make_provider, chat_config, user, ld_client, sink
):
    emitted = Emitted()
    provider, processor = make_provider(max_segment_age_s=0.2, on_emitted=emitted)
    tracer = provider.get_tracer("tests")

    with ai_run(chat_config, user, tracer_provider=provider) as run:
        chat(tracer, 2, 3)
        stuck = chat(tracer, None, None, end=False)  # a stream nobody consumes yet

    # No flush: the emitter's own tick closes the segment once it is too old.
    assert emitted.wait_for(1)
    assert emitted.calls[0][:3] == (run.run_id, "chat-config", "origin")
    assert processor.open_runs == 0
    first = flush_client(ld_client, sink)
    got = values(first)
    assert got["$ld:ai:tokens:total"] == 5
    assert got["$ld:ai:generation:success"] == 1
    assert "$ld:ai:duration:total" in got

    # The late span still counts, as a new segment of the same runId that
    # leaves duration and outcome to the first one.
    stuck.set_attribute("gen_ai.usage.input_tokens", 30)
    stuck.set_attribute("gen_ai.usage.output_tokens", 70)
    stuck.end()
    assert emitted.wait_for(2)
    assert emitted.calls[1][:3] == (run.run_id, "chat-config", "continuation")
    sink.clear()
    late = flush_client(ld_client, sink)
    assert sorted(e["key"] for e in late) == ["$ld:ai:tokens:input", "$ld:ai:tokens:output", "$ld:ai:tokens:total"]
    assert values(late)["$ld:ai:tokens:total"] == 100
    assert {e["data"]["runId"] for e in late} == {run.run_id}
    assert processor.tracked_spans == 0


def test_opening_more_than_max_open_runs_evicts_the_oldest_without_losing_metrics(
    make_provider, chat_config, user, ld_client, sink
):
    emitted = Emitted()
    provider, processor = make_provider(max_open_runs=2, on_emitted=emitted)
    tracer = provider.get_tracer("tests")

    with ai_run(chat_config, user, tracer_provider=provider, new_trace=True) as r1:
        chat(tracer, 1, 1)
        with ai_run(chat_config, user, tracer_provider=provider, new_trace=True) as r2:
            chat(tracer, 2, 2)
            with ai_run(chat_config, user, tracer_provider=provider, new_trace=True) as r3:
                # Opening r3 evicted r1 while r1's scope is still open.
                assert emitted.wait_for(1)
                assert emitted.calls[0][0] == r1.run_id
                assert processor.open_runs == 2
                chat(tracer, 3, 3)
    assert emitted.wait_for(4)

    events = flush_client(ld_client, sink)
    for run, tokens in ((r1, 2), (r2, 4), (r3, 6)):
        got = values([e for e in events if e["data"]["runId"] == run.run_id])
        assert got["$ld:ai:tokens:total"] == tokens
        assert got["$ld:ai:generation:success"] == 1
        assert "$ld:ai:duration:total" in got
    # r1's duration is its scope's, emitted once by the segment that carried its root.
    r1_events = by_key([e for e in events if e["data"]["runId"] == r1.run_id])
    assert len(r1_events["$ld:ai:duration:total"]) == 1
    assert processor.open_runs == 0
    assert processor.tracked_spans == 0


def test_force_flush_closes_open_segments_and_returns_true(
    provider, tracer, chat_config, user, processor, ld_client, sink
):
    scope = ai_run(chat_config, user, tracer_provider=provider)
    with scope:
        chat(tracer, 4, 4)
        assert processor.force_flush() is True
    assert processor.force_flush() is True
    # Each force_flush made the client post a payload, from a pool of threads
    # in no set order: wait for both before reading.
    assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:tokens:total")
    assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success")
    events = flush_client(ld_client, sink)
    grouped = by_key(events)
    assert [e["metricValue"] for e in grouped["$ld:ai:tokens:total"]] == [8]
    # The root was still open at the flush: its duration and outcome come once, when it ends.
    assert len(grouped["$ld:ai:duration:total"]) == 1
    assert len(grouped["$ld:ai:generation:success"]) == 1
