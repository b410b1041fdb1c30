"""LaunchDarkly's ``ManagedModel`` inside ``ai_run``: each model call counted once, each run judged once.

``ManagedModel.run`` (launchdarkly-server-sdk-ai) tracks its own run, under a
runId of its own, and runs the config's judges itself; it writes no span that
says so. The processor wraps it (``ldai_otel/live/ld_managed.py``) so that the
spans started under it join no ``ai_run``. Real components throughout: an
``LDClient`` on ``TestData`` flags, ``ManagedModel`` running through
``launchdarkly-server-sdk-ai-openai`` and the real ``openai`` client against a
loopback stub, the app's own call instrumented by contrib openai-v2 (content
capture on), events asserted at the loopback sink.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from judge_stub import APP_USAGE, JUDGE_USAGE
from ldai.models import AICompletionConfigDefault
from ldclient.integrations.test_data import TestData

from ldai_otel import ai_run
from ldai_otel.testing import add_ai_config, add_judge_config, flush_events

JUDGED = "managed-judged-chat"
PLAIN = "managed-plain-chat"
RELEVANCE = "relevance-judge"
RELEVANCE_METRIC = "$ld:ai:judge:relevance"
QUESTION = "What is the capital of France?"
CALL_METRICS = {
    "$ld:ai:tokens:input": APP_USAGE["prompt_tokens"],
    "$ld:ai:tokens:output": APP_USAGE["completion_tokens"],
    "$ld:ai:tokens:total": APP_USAGE["total_tokens"],
    "$ld:ai:generation:success": 1,
}
"""One model call's events (duration aside): the stub's usage, once."""


@pytest.fixture
def test_data() -> TestData:
    td = TestData.data_source()
    add_ai_config(td, JUDGED, variation_key="v-judged", version=3, judges={RELEVANCE: 1.0})
    add_ai_config(td, PLAIN, variation_key="v-plain", version=4)
    add_judge_config(td, RELEVANCE, RELEVANCE_METRIC, variation_key="v-relevance", version=2)
    return td


def _runs(events: list[dict[str, Any]], config_key: str) -> dict[str, dict[str, Any]]:
    """runId -> {event key: metricValue} of the AI events of ``config_key``, duration left out."""
    runs: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event["data"]
        if data.get("configKey") == config_key:
            metrics = runs.setdefault(data["runId"], {})
            assert event["key"] not in metrics, "an event sent twice for one run: %s" % event["key"]
            if event["key"] != "$ld:ai:duration:total":
                metrics[event["key"]] = event["metricValue"]
    return runs


def _run(provider, ai_client, user, stub, key: str, *, direct_call_too: bool) -> tuple[str, list[Any]]:
    """An ``ai_run`` holding a ``ManagedModel`` call (and a direct call); returns its runId and judge results."""
    config = ai_client.completion_config(key, user, AICompletionConfigDefault(enabled=False))
    model = ai_client.create_model(key, user)
    assert model is not None

    async def go() -> tuple[str, list[Any]]:
        client = openai.AsyncOpenAI()
        with ai_run(config, user, tracer_provider=provider) as run:
            if direct_call_too:
                answer = await client.chat.completions.create(
                    model="gpt-test", messages=[{"role": "user", "content": QUESTION}]
                )
                assert answer.choices[0].message.content == stub.answer
            result = await model.run(QUESTION)
            assert result.content == stub.answer
            results = await result.evaluations if result.evaluations is not None else []
        await client.close()
        return run.run_id, results

    return asyncio.run(go())


@pytest.mark.parametrize("key", [JUDGED, PLAIN])
def test_a_managed_call_is_counted_once_under_its_own_run_and_the_ai_run_around_it_sends_nothing(
    instrumented, ld_client, ai_client, user, sink, stub, exporter, key
):
    provider, processor = instrumented()
    run_id, results = _run(provider, ai_client, user, stub, key, direct_call_too=False)
    events = flush_events(ld_client, sink, processor)

    # The ai_run held only the managed call: it sends nothing, not even duration or success.
    assert sink.ai_events(run_id) == []
    # The call's tokens once, under ManagedModel's own runId; judged once, by ManagedModel.
    [(managed_run_id, managed)] = _runs(events, key).items()
    assert managed_run_id != run_id
    expected = dict(CALL_METRICS)
    if key == JUDGED:
        assert [(r.sampled, r.success) for r in results] == [(True, True)]
        expected[RELEVANCE_METRIC] = stub.score
    assert managed == expected
    judge_runs = _runs(events, RELEVANCE)
    assert [r["$ld:ai:tokens:total"] for r in judge_runs.values()] == (
        [JUDGE_USAGE["total_tokens"]] if key == JUDGED else []
    )
    assert len(stub.judge_requests()) == (1 if key == JUDGED else 0)
    # The processor judged nothing: the run's only call was ManagedModel's to judge.
    assert processor.evaluation_stats["queued"] == 0
    assert processor.evaluation_stats["no_content"] == 0
    # The managed call's span was never stamped as the ai_run's.
    [call_span] = [s for s in exporter.get_finished_spans() if s.attributes.get("gen_ai.request.model") == "gpt-test"]
    assert "ld.ai_config.key" not in call_span.attributes


def test_a_direct_call_next_to_a_managed_call_counts_only_the_direct_call(
    instrumented, ld_client, ai_client, user, sink, stub, exporter
):
    provider, processor = instrumented()
    run_id, results = _run(provider, ai_client, user, stub, JUDGED, direct_call_too=True)
    events = flush_events(ld_client, sink, processor)

    runs = _runs(events, JUDGED)
    assert run_id in runs and len(runs) == 2
    [managed_run_id] = [r for r in runs if r != run_id]
    # Each run has exactly one call's tokens: the ai_run its direct call, ManagedModel its own.
    assert runs[run_id] == {**CALL_METRICS, RELEVANCE_METRIC: stub.score}
    assert runs[managed_run_id] == {**CALL_METRICS, RELEVANCE_METRIC: stub.score}
    # Each run judged once: the processor judged the ai_run, ManagedModel its own call.
    assert [(r.sampled, r.success) for r in results] == [(True, True)]
    assert processor.evaluation_stats["tracked"] == 1
    assert len(stub.judge_requests()) == 2
    judge_runs = _runs(events, RELEVANCE)
    assert sorted(r["$ld:ai:tokens:total"] for r in judge_runs.values()) == [JUDGE_USAGE["total_tokens"]] * 2
    assert not {run_id, managed_run_id} & set(judge_runs)
    # Of the two call spans, only the direct one is the ai_run's.
    call_spans = [s for s in exporter.get_finished_spans() if s.attributes.get("gen_ai.request.model") == "gpt-test"]
    assert sorted("ld.ai_config.key" in s.attributes for s in call_spans) == [False, True]
