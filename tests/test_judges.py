"""Online evaluations end to end: ldai's own judges, from a run's spans, at the events sink.

Real components throughout: an ``LDClient`` on ``TestData`` flags (the AI
Config with ``judgeConfiguration`` and the judge config), the judge run by
``launchdarkly-server-sdk-ai-openai`` with the real ``openai`` client against
a loopback OpenAI stub, and the run's own model call made with the real
``openai`` client instrumented by contrib openai-v2 (content capture on or
off).
"""

from __future__ import annotations

import logging
import os
import time

import openai
import pytest
from judge_stub import APP_USAGE, JUDGE_USAGE, point_openai_at
from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient.integrations.test_data import TestData
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_trace_id

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.model.run import run_id_for_trace
from ldai_otel.testing import add_ai_config, add_judge_config, flush_events, sink_client

JUDGED = "judged-chat"
SAMPLED_OUT = "sampled-out-chat"
TWO_JUDGES = "two-judges-chat"
PLAIN = "plain-chat"
RELEVANCE = "relevance-judge"
ACCURACY = "accuracy-judge"
RELEVANCE_METRIC = "$ld:ai:judge:relevance"
ACCURACY_METRIC = "$ld:ai:judge:accuracy"
SLOW_JUDGE_MODEL = "gpt-judge-slow"
QUESTION = "What is the capital of France?"


@pytest.fixture
def test_data() -> TestData:
    td = TestData.data_source()
    add_ai_config(td, JUDGED, variation_key="v-judged", version=3, judges={RELEVANCE: 1.0})
    add_ai_config(td, SAMPLED_OUT, variation_key="v-sampled", version=4, judges={RELEVANCE: 0.0})
    add_ai_config(td, TWO_JUDGES, variation_key="v-two", version=5, judges={RELEVANCE: 1.0, ACCURACY: 1.0})
    add_ai_config(td, PLAIN, variation_key="v-plain", version=6)
    add_judge_config(td, RELEVANCE, RELEVANCE_METRIC, variation_key="v-relevance", version=2)
    add_judge_config(td, ACCURACY, ACCURACY_METRIC, model=SLOW_JUDGE_MODEL)
    return td


def _config(ai_client, user, key):
    # Judges are built here, each with its own AsyncOpenAI from OPENAI_BASE_URL.
    return ai_client.completion_config(key, user, AICompletionConfigDefault(enabled=False))


def _call(provider, config, user, *, hand_pair: tuple[str, str] | None = None) -> str:
    """One run: one chat call through the instrumented openai client; returns the runId."""
    client = openai.OpenAI()
    with ai_run(config, user, tracer_provider=provider) as run:
        answer = client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
        )
        assert answer.choices[0].message.content
        if hand_pair is not None:
            run.set_evaluation_text(*hand_pair)
        trace_id = run.span.get_span_context().trace_id
    client.close()
    assert run.run_id == run_id_for_trace(trace_id)
    return run.run_id


def _events(sink, key, run_id=None):
    return [e for e in sink.events() if e.get("key") == key and (run_id is None or e["data"].get("runId") == run_id)]


def _run_metrics(sink, run_id) -> dict:
    return {e["key"]: e.get("metricValue") for e in sink.ai_events(run_id) if e["data"]["configKey"] != RELEVANCE}


def test_a_judged_run_gets_ldai_judge_event_on_its_own_run(
    instrumented, ld_client, ai_client, user, sink, stub, exporter
):
    provider, processor = instrumented()
    run_id = _call(provider, _config(ai_client, user, JUDGED), user)
    flush_events(ld_client, sink, processor)

    [event] = _events(sink, RELEVANCE_METRIC)
    assert event["kind"] == "custom"
    assert event["metricValue"] == 0.8
    assert event["context"] == {"kind": "user", "key": "user-42"}
    assert event["data"] == {
        "runId": run_id,
        "configKey": JUDGED,
        "variationKey": "v-judged",
        "version": 3,
        "modelName": "gpt-test",
        "providerName": "openai",
        "judgeConfigKey": RELEVANCE,
    }
    # The judge saw what the managed path shows it: the user's prompt (the
    # config's system message left out) and the answer.
    [request] = stub.judge_requests()
    assert request["messages"][-1] == {
        "role": "user",
        "content": "MESSAGE HISTORY:\n%s\n\nRESPONSE TO EVALUATE:\n%s" % (QUESTION, stub.answer),
    }
    assert request["response_format"]["json_schema"]["name"] == "structured_output"
    # The run's tokens are its own call's; the judge's are its own run's (ldai's tracker).
    metrics = _run_metrics(sink, run_id)
    assert metrics["$ld:ai:tokens:input"] == APP_USAGE["prompt_tokens"]
    assert metrics["$ld:ai:tokens:output"] == APP_USAGE["completion_tokens"]
    assert metrics["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]
    assert metrics["$ld:ai:generation:success"] == 1
    judge_tokens = [e for e in _events(sink, "$ld:ai:tokens:total") if e["data"]["configKey"] == RELEVANCE]
    assert [e["metricValue"] for e in judge_tokens] == [JUDGE_USAGE["total_tokens"]]
    assert judge_tokens[0]["data"]["runId"] != run_id
    # The judge's instrumented call is a trace of its own, never stamped as the run's.
    judge_spans = [s for s in exporter.get_finished_spans() if s.attributes.get("gen_ai.request.model") == "gpt-judge"]
    assert len(judge_spans) == 1
    assert run_id_for_trace(judge_spans[0].context.trace_id) != run_id
    assert "ld.ai_config.key" not in judge_spans[0].attributes
    assert processor.evaluation_stats["tracked"] == 1


def test_force_flush_returns_after_pending_evaluations(instrumented, ai_client, user, sink, stub):
    provider, processor = instrumented()
    run_id = _call(provider, _config(ai_client, user, JUDGED), user)
    assert processor.force_flush(timeout_millis=30_000) is True
    # Nothing waited for: force_flush itself waited for the evaluation.
    assert processor.evaluation_stats["tracked"] == 1
    assert sink.wait_for_event(lambda e: e.get("key") == RELEVANCE_METRIC and e["data"]["runId"] == run_id)


def test_shutdown_evaluates_pending_runs_before_it_returns(instrumented, ai_client, user, sink, ld_client):
    provider, processor = instrumented()
    run_id = _call(provider, _config(ai_client, user, JUDGED), user)
    provider.shutdown()  # a script's end: its judged runs are evaluated first
    assert processor.evaluation_stats["tracked"] == 1
    ld_client.flush()
    assert sink.wait_for_event(lambda e: e.get("key") == RELEVANCE_METRIC and e["data"]["runId"] == run_id)


def test_two_runs_in_a_row_each_get_their_own_result(instrumented, ld_client, ai_client, user, sink, stub):
    provider, processor = instrumented()
    config = _config(ai_client, user, JUDGED)
    first = _call(provider, config, user)
    second = _call(provider, config, user)
    assert first != second
    flush_events(ld_client, sink, processor)
    events = _events(sink, RELEVANCE_METRIC)
    assert sorted(e["data"]["runId"] for e in events) == sorted([first, second])
    assert len(stub.judge_requests()) == 2


def test_sampling_rate_zero_makes_no_judge_call(instrumented, ld_client, ai_client, user, sink, stub):
    provider, processor = instrumented()
    run_id = _call(provider, _config(ai_client, user, SAMPLED_OUT), user)
    flush_events(ld_client, sink, processor)
    assert _events(sink, RELEVANCE_METRIC) == []
    assert stub.judge_requests() == []
    assert processor.evaluation_stats["not_sampled"] == 1
    assert _run_metrics(sink, run_id)["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]


def test_a_failing_judge_costs_its_result_only(instrumented, ld_client, ai_client, user, sink, stub, caplog):
    stub.judge_mode = "fail"
    provider, processor = instrumented()
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        run_id = _call(provider, _config(ai_client, user, JUDGED), user)
        flush_events(ld_client, sink, processor)
    assert _events(sink, RELEVANCE_METRIC) == []
    assert len(stub.judge_requests()) >= 1  # the openai client retried the 500s itself
    assert processor.evaluation_stats["failed"] == 1
    metrics = _run_metrics(sink, run_id)
    assert metrics["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]
    assert metrics["$ld:ai:generation:success"] == 1
    assert "$ld:ai:duration:total" in metrics
    failed = [r for r in caplog.records if r.name == "ldai_otel.evaluations.judges" and "failed" in r.getMessage()]
    assert len(failed) == 1


def test_a_hanging_judge_times_out_and_the_other_judge_still_counts(
    instrumented, ld_client, ai_client, user, sink, stub, caplog
):
    stub.hang_model = SLOW_JUDGE_MODEL
    provider, processor = instrumented(judge_timeout_s=1.0)
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        run_id = _call(provider, _config(ai_client, user, TWO_JUDGES), user)
        flush_events(ld_client, sink, processor)
    [relevance] = _events(sink, RELEVANCE_METRIC)
    assert relevance["data"]["runId"] == run_id
    assert relevance["data"]["judgeConfigKey"] == RELEVANCE
    assert _events(sink, ACCURACY_METRIC) == []
    assert processor.evaluation_stats["timed_out"] == 1
    assert _run_metrics(sink, run_id)["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]
    slow = [r for r in caplog.records if r.name == "ldai_otel.evaluations.judges" and "took over" in r.getMessage()]
    assert len(slow) == 1
    assert ACCURACY in slow[0].getMessage()


def test_without_content_no_judge_runs_and_one_line_says_why(
    instrumented, ld_client, ai_client, user, sink, stub, caplog
):
    provider, processor = instrumented(capture=False)
    config = _config(ai_client, user, JUDGED)
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        runs = [_call(provider, config, user) for _ in range(3)]
        flush_events(ld_client, sink, processor)
    assert stub.judge_requests() == []
    assert _events(sink, RELEVANCE_METRIC) == []
    assert processor.evaluation_stats["no_content"] == 3
    lines = [r for r in caplog.records if "nothing to judge" in r.getMessage()]
    assert len(lines) == 1  # rate-limited
    assert "content capture is off" in lines[0].getMessage()
    assert QUESTION not in caplog.text and stub.answer not in caplog.text  # content is never logged
    for run_id in runs:
        assert _run_metrics(sink, run_id)["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]


def test_the_app_hands_the_pair_when_spans_carry_no_content(instrumented, ld_client, ai_client, user, sink, stub):
    provider, processor = instrumented(capture=False)
    run_id = _call(provider, _config(ai_client, user, JUDGED), user, hand_pair=("the question", "the answer"))
    flush_events(ld_client, sink, processor)
    [event] = _events(sink, RELEVANCE_METRIC)
    assert event["data"]["runId"] == run_id
    [request] = stub.judge_requests()
    assert request["messages"][-1]["content"] == "MESSAGE HISTORY:\nthe question\n\nRESPONSE TO EVALUATE:\nthe answer"


def test_runs_without_judges_start_nothing(instrumented, ld_client, ai_client, user, sink, stub):
    provider, processor = instrumented()
    config = _config(ai_client, user, PLAIN)
    run_id = _call(provider, config, user)
    flush_events(ld_client, sink, processor)
    assert stub.judge_requests() == []
    assert not any(str(e.get("key", "")).startswith("$ld:ai:judge:") for e in sink.events())
    assert set(processor.evaluation_stats.values()) == {0}
    assert processor._evaluations._thread is None  # no loop thread was ever started
    assert _run_metrics(sink, run_id)["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]


def test_a_full_evaluation_queue_skips_and_counts(instrumented, ld_client, ai_client, user, sink, stub, caplog):
    stub.judge_mode = "hang"
    provider, processor = instrumented(max_pending_evaluations=1, judge_timeout_s=2.0)
    config = _config(ai_client, user, JUDGED)
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        first = _call(provider, config, user)
        deadline = time.monotonic() + 20
        while not stub.judge_requests() and time.monotonic() < deadline:
            time.sleep(0.01)  # the first evaluation is now under way, holding the one place
        assert stub.judge_requests()
        second = _call(provider, config, user)
        flush_events(ld_client, sink, processor)
    stats = processor.evaluation_stats
    assert stats["queued"] == 1
    assert stats["skipped_full"] == 1
    assert stats["timed_out"] == 1
    assert _events(sink, RELEVANCE_METRIC) == []
    assert any("too many online evaluations pending" in r.getMessage() for r in caplog.records)
    for run_id in (first, second):
        assert _run_metrics(sink, run_id)["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]


def test_judges_can_be_turned_off(instrumented, ld_client, ai_client, user, sink, stub):
    provider, processor = instrumented(run_judges=False)
    _call(provider, _config(ai_client, user, JUDGED), user)
    flush_events(ld_client, sink, processor)
    assert stub.judge_requests() == []
    assert _events(sink, RELEVANCE_METRIC) == []


def test_trace_id_is_the_run_id(instrumented, ld_client, ai_client, user, sink, exporter):
    provider, processor = instrumented()
    run_id = _call(provider, _config(ai_client, user, JUDGED), user)
    flush_events(ld_client, sink, processor)
    [root] = [s for s in exporter.get_finished_spans() if s.name == "ai_run " + JUDGED]
    assert run_id.replace("-", "") == format_trace_id(root.context.trace_id)
    [event] = _events(sink, RELEVANCE_METRIC)
    assert event["data"]["runId"] == run_id
    assert os.environ["OPENAI_BASE_URL"].startswith("http://127.0.0.1:")


class _BrokenJudge:
    """A judge that fails every way a judge object can: its config and its evaluation raise."""

    def get_ai_config(self):
        raise RuntimeError("no config")

    def evaluate(self, input_text, output_text):
        raise RuntimeError("broken judge")


class _BrokenEvaluator:
    def __init__(self):
        self._judges = [_BrokenJudge(), object()]


def test_a_broken_judge_never_reaches_the_app_nor_the_runs_events(instrumented, ld_client, ai_client, user, sink):
    import dataclasses

    provider, processor = instrumented()
    config = dataclasses.replace(_config(ai_client, user, PLAIN), evaluator=_BrokenEvaluator())
    run_id = _call(provider, config, user)  # no exception here
    flush_events(ld_client, sink, processor)
    assert processor.evaluation_stats["failed"] == 2
    assert _run_metrics(sink, run_id)["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]
    assert not any(str(e.get("key", "")).startswith("$ld:ai:judge:") for e in sink.events())


EXITING_SCRIPT = r"""
import atexit, json, os, sys
from ldclient import Context
from ldclient.integrations.test_data import TestData
from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.testing import add_ai_config, add_judge_config, sink_client

class Sink:
    uri = os.environ["SINK_URI"]

td = TestData.data_source()
add_ai_config(td, "judged-chat", judges={"relevance-judge": 1.0})
add_judge_config(td, "relevance-judge", "$ld:ai:judge:relevance")
client = sink_client(Sink, td)
atexit.register(client.close)  # registered first: runs after the tracer provider's own exit hook
trace.set_tracer_provider(TracerProvider())
trace.get_tracer_provider().add_span_processor(LDAISpanProcessor(client))
user = Context.create("user-42")
config = LDAIClient(client).completion_config("judged-chat", user, AICompletionConfigDefault(enabled=False))
messages = {
    "gen_ai.operation.name": "chat",
    "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "q"}]}]),
    "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "a"}]}]),
}
with ai_run(config, user) as run:
    trace.get_tracer("app").start_span("chat", attributes=messages).end()
print(run.run_id)
"""


def test_a_script_that_just_exits_has_its_run_judged(sink, stub, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(EXITING_SCRIPT)
    env = {
        **os.environ,
        "SINK_URI": sink.uri,
        # A host name, not an address: its lookup at exit must still work.
        "OPENAI_BASE_URL": stub.base_url.replace("127.0.0.1", "localhost"),
        "OPENAI_API_KEY": "sk-test",
    }
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert sink.wait_for_event(lambda e: e.get("key") == RELEVANCE_METRIC and e["data"]["runId"] == run_id, 30)
    assert "Traceback" not in done.stderr


def test_under_load_spans_read_at_once_are_not_judged_and_the_line_says_so(
    instrumented, ld_client, ai_client, user, sink, stub, caplog
):
    provider, processor = instrumented()
    processor._table._max_pending = 0  # the pending-span bound reached: spans are read on the app's thread
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        run_id = _call(provider, _config(ai_client, user, JUDGED), user)
        flush_events(ld_client, sink, processor)
    assert stub.judge_requests() == []
    assert processor.evaluation_stats["no_content"] == 1
    assert any("read at once under load" in r.getMessage() for r in caplog.records)
    assert _run_metrics(sink, run_id)["$ld:ai:tokens:total"] == APP_USAGE["total_tokens"]


def test_closing_the_client_first_still_delivers_the_judge_result(monkeypatch, stub, sink, test_data, user):
    # The exit contract holds for judged runs too: close() waits for the run's evaluation
    # before the client stops, with no force_flush or provider shutdown before it.
    point_openai_at(monkeypatch, stub)
    stub.judge_delay_s = 1.0  # the judge is still answering when close() is called
    client = sink_client(sink, test_data)  # closed by the test itself, not by a fixture
    provider = TracerProvider()
    provider.add_span_processor(LDAISpanProcessor(client))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        run_id = _call(provider, _config(LDAIClient(client), user, JUDGED), user)
        client.close()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    judged = _events(sink, RELEVANCE_METRIC, run_id)
    assert [(e["metricValue"], e["data"]["judgeConfigKey"]) for e in judged] == [(0.8, RELEVANCE)]
    assert _run_metrics(sink, run_id)["$ld:ai:tokens:input"] == APP_USAGE["prompt_tokens"]
