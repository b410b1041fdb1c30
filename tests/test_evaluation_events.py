"""``gen_ai.evaluation.result`` span events on run spans, mapped to judge-style events at the sink."""

from __future__ import annotations

from ldai_otel import ai_run
from ldai_otel.testing import flush_events

EVALUATION = "gen_ai.evaluation.result"


def _evaluated_chat(tracer, name: str, score, label: str | None = "relevant"):
    span = tracer.start_span(
        "chat gpt-test", attributes={"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 4}
    )
    attributes = {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": score}
    if label is not None:
        attributes["gen_ai.evaluation.score.label"] = label
    span.add_event(EVALUATION, attributes)
    span.end()


def test_mapped_evaluations_become_events_on_the_run(make_provider, chat_config, user, ld_client, sink):
    provider, processor = make_provider(evaluation_metrics={"Relevance": "$ld:ai:judge:relevance"})
    tracer = provider.get_tracer("tests")
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        _evaluated_chat(tracer, "Relevance", 0.6)
        _evaluated_chat(tracer, "Toxicity", 0.1)  # not mapped: ignored
        _evaluated_chat(tracer, "Relevance", "high")  # not a number: ignored
    flush_events(ld_client, sink, processor)
    judged = [e for e in sink.events() if str(e.get("key", "")).startswith("$ld:ai:judge:")]
    assert len(judged) == 1
    [event] = judged
    assert event["key"] == "$ld:ai:judge:relevance"
    assert event["metricValue"] == 0.6
    assert event["data"] == {
        "runId": run.run_id,
        "configKey": "chat-config",
        "variationKey": "v-chat",
        "version": 3,
        "modelName": "gpt-test",
        "providerName": "openai",
    }
    # The run's own metrics are still there.
    assert any(e["key"] == "$ld:ai:tokens:input" for e in sink.ai_events(run.run_id))


def test_evaluations_written_by_launchdarkly_sdks_are_skipped(make_provider, chat_config, user, ld_client, sink):
    provider, processor = make_provider(evaluation_metrics={"Relevance": "$ld:ai:judge:relevance"})
    ld_tracer = provider.get_tracer("@launchdarkly/ai-openai")
    with ai_run(chat_config, user, tracer_provider=provider):
        _evaluated_chat(ld_tracer, "Relevance", 0.9)
    flush_events(ld_client, sink, processor)
    assert not any(str(e.get("key", "")).startswith("$ld:ai:judge:") for e in sink.events())


def test_without_a_mapping_evaluation_events_cost_nothing(make_provider, chat_config, user, ld_client, sink):
    provider, processor = make_provider()
    with ai_run(chat_config, user, tracer_provider=provider):
        _evaluated_chat(provider.get_tracer("tests"), "Relevance", 0.6)
    flush_events(ld_client, sink, processor)
    assert processor._evaluation_events is None
    assert not any(str(e.get("key", "")).startswith("$ld:ai:judge:") for e in sink.events())
