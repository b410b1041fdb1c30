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


def test_serve_maps_evaluation_events_and_runs_no_judges(sink, tmp_path):
    import uuid

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from serve_support import export, start_serve

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "app-a"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("app")
    root_attributes = {
        "ld.ai_config.key": "chat-config",
        "ld.ai_config.variation_key": "v-chat",
        "ld.ai_config.version": 3,
    }
    with tracer.start_as_current_span("agent", attributes=root_attributes) as root:
        _evaluated_chat(tracer, "Relevance", 0.7)
        _evaluated_chat(tracer, "Toxicity", 0.2)
    run_id = str(uuid.UUID(int=root.get_span_context().trace_id))
    flags = ("--decision-wait", "0.3", "--evaluation-metric", "Relevance=$ld:ai:judge:relevance")
    with start_serve(sink, tmp_path, *flags) as serve:
        export(serve.http_exporter(), memory.get_finished_spans())
        assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:judge:relevance", 30)
        assert serve.terminate() == 0
    provider.shutdown()
    judged = [e for e in sink.events() if str(e.get("key", "")).startswith("$ld:ai:judge:")]
    assert [(e["key"], e["metricValue"], e["data"]["runId"]) for e in judged] == [
        ("$ld:ai:judge:relevance", 0.7, run_id)
    ]
    assert judged[0]["data"]["configKey"] == "chat-config"
    assert "runs no judges" in serve.stderr
    assert "Traceback" not in serve.stderr


def test_inspect_shows_the_evaluations_it_maps(make_provider, chat_config, user, ld_client, sink, tmp_path):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from otlp_json import FileSpanExporter
    from test_inspect import inspect_cli

    path = tmp_path / "spans.jsonl"
    with open(path, "w") as stream:
        provider, processor = make_provider(evaluation_metrics={"Relevance": "$ld:ai:judge:relevance"})
        provider.add_span_processor(SimpleSpanProcessor(FileSpanExporter(stream=stream)))
        with ai_run(chat_config, user, tracer_provider=provider) as run:
            _evaluated_chat(provider.get_tracer("tests"), "Relevance", 0.6)
            _evaluated_chat(provider.get_tracer("tests"), "Toxicity", 0.1)
        flush_events(ld_client, sink, processor)
        provider.force_flush()
    [sent] = [e for e in sink.ai_events(run.run_id) if e["key"] == "$ld:ai:judge:relevance"]
    mapped = inspect_cli(str(path), "--evaluation-metric", "Relevance=$ld:ai:judge:relevance")
    assert mapped.returncode == 0, mapped.stderr
    lines = [line.split() for line in mapped.stdout.splitlines() if "$ld:ai:judge:" in line]
    assert lines == [["$ld:ai:judge:relevance", str(sent["metricValue"])]]
    unmapped = inspect_cli(str(path))
    assert "$ld:ai:judge:" not in unmapped.stdout
    bad = inspect_cli(str(path), "--evaluation-metric", "Relevance")
    assert bad.returncode == 2
    assert "NAME=METRIC_KEY" in bad.stderr
