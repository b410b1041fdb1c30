"""``ai_run`` writes the run's identity on its own span, processor or not.

A real TracerProvider with only an exporter (the ``ldai-otel serve``
deployment: no LDAISpanProcessor in the app); assertions on exported spans.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from conftest import CHAT
from ldclient import Context
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ldai_otel import ai_run
from ldai_otel.model.config_facts import _factory_facts, run_info_from_config
from ldai_otel.testing import flush_events

IDENTITY = {
    "ld.ai_config.key": CHAT,
    "ld.ai_config.variation_key": "v-chat",
    "ld.ai_config.version": 3,
    "ld.ai_config.model_name": "gpt-test",
    "ld.ai_config.provider_name": "openai",
}


@pytest.fixture
def bare() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def _span(exporter: InMemorySpanExporter, name: str):
    return next(s for s in exporter.get_finished_spans() if s.name == name)


@pytest.mark.parametrize("under_a_request", [True, False], ids=["under a request span", "new trace"])
def test_ai_run_span_has_the_identity_without_a_processor(bare, chat_config, user, ld_client, sink, under_a_request):
    provider, exporter = bare
    tracer = provider.get_tracer("app")
    if under_a_request:
        with tracer.start_as_current_span("request"):
            with ai_run(chat_config, user, tracer_provider=provider) as run:
                with tracer.start_as_current_span("db"):
                    pass
    else:
        with ai_run(chat_config, user, tracer_provider=provider, new_trace=True) as run:
            pass
    span = _span(exporter, "ai_run " + CHAT)
    assert run.run_id == str(uuid.UUID(int=span.context.trace_id))
    assert dict(span.attributes) == {**IDENTITY, "ld.ai_config.run_id": run.run_id}
    # Nothing else is stamped and nothing is sent without a processor.
    assert all("ld.ai_config.key" not in s.attributes for s in exporter.get_finished_spans() if s is not span)
    assert flush_events(ld_client, sink) == []


def test_the_identity_is_passed_at_start_when_the_trace_is_known(bare, chat_config, user):
    """Samplers see it: it is in the attributes start_span got."""
    provider, _ = bare
    seen = []

    class Spy(SpanProcessor):
        def on_start(self, span, parent_context=None):
            seen.append(dict(span.attributes))

    provider.add_span_processor(Spy())
    with provider.get_tracer("app").start_as_current_span("request"):
        with ai_run(chat_config, user, tracer_provider=provider) as run:
            pass
    assert seen[1] == {**IDENTITY, "ld.ai_config.run_id": run.run_id}


def test_context_kind_and_key_only_when_asked(bare, chat_config, user):
    provider, exporter = bare
    with ai_run(chat_config, user, tracer_provider=provider, new_trace=True):
        pass
    with ai_run(chat_config, user, tracer_provider=provider, new_trace=True, record_context=True):
        pass
    multi = Context.create_multi(Context.create("org-1", "org"), user)
    with ai_run(chat_config, multi, tracer_provider=provider, new_trace=True, record_context=True):
        pass
    off, single, several = (s.attributes for s in exporter.get_finished_spans())
    assert "ld.ai_config.context.kind" not in off and "ld.ai_config.context.key" not in off
    assert single["ld.ai_config.context.kind"] == "user"
    assert single["ld.ai_config.context.key"] == "user-42"
    assert tuple(several["ld.ai_config.context.kind"]) == ("org", "user")
    assert tuple(several["ld.ai_config.context.key"]) == ("org-1", "user-42")


def test_a_context_that_is_not_an_ld_context_records_nothing_and_the_run_works(bare, chat_config):
    provider, exporter = bare
    with ai_run(chat_config, object(), tracer_provider=provider, record_context=True) as run:
        pass
    attributes = exporter.get_finished_spans()[0].attributes
    assert attributes["ld.ai_config.run_id"] == run.run_id
    assert "ld.ai_config.context.kind" not in attributes


def test_with_the_processor_the_span_has_the_same_identity(make_provider, chat_config, user, exporter):
    provider, _ = make_provider()
    with provider.get_tracer("app").start_as_current_span("request"):
        with ai_run(chat_config, user, tracer_provider=provider) as run:
            pass
    with ai_run(chat_config, user, tracer_provider=provider, new_trace=True) as second:
        pass
    first_span, second_span = (s for s in exporter.get_finished_spans() if s.name == "ai_run " + CHAT)
    # The processor adds its stamp: this process emitted the run (serve skips it), entered by ai_run.
    emitted = {"ld.ai_config.emitter": "ldai-otel", "ld.ai_config.entry": "ai_run"}
    assert dict(first_span.attributes) == {**IDENTITY, **emitted, "ld.ai_config.run_id": run.run_id}
    assert dict(second_span.attributes) == {**IDENTITY, **emitted, "ld.ai_config.run_id": second.run_id}
    assert run.run_id != second.run_id


def _token_path(config, user):
    class Opaque:
        """The same config behind a factory of another shape: the public path."""

        key = config.key
        model = config.model
        provider = config.provider

        def create_tracker(self):
            return config.create_tracker()

    return run_info_from_config(Opaque(), user)


def test_config_facts_from_the_factory_equal_the_tracker_token_facts(ai_client, user):
    from ldai.models import AIAgentConfigDefault, AICompletionConfigDefault, AIJudgeConfigDefault

    configs = [
        ai_client.completion_config(CHAT, user, AICompletionConfigDefault(enabled=False)),
        ai_client.agent_config(CHAT, user, AIAgentConfigDefault(enabled=False)),
        ai_client.judge_config("judge-config", user, AIJudgeConfigDefault(enabled=False)),
        ai_client.completion_config("no-such-config", user, AICompletionConfigDefault(enabled=False)),
    ]
    for config in configs:
        assert _factory_facts(config) is not None  # this ldai's factories have the known shape
        fast, public = run_info_from_config(config, user), _token_path(config, user)
        assert (fast.config_key, fast.variation_key, fast.version, fast.graph_key) == (
            public.config_key,
            public.variation_key,
            public.version,
            public.graph_key,
        )
        assert (fast.model_name, fast.provider_name) == (public.model_name, public.provider_name)
    assert run_info_from_config(configs[0], user).variation_key == "v-chat"
    assert run_info_from_config(configs[0], user).version == 3


def test_a_factory_of_another_shape_or_with_odd_values_takes_the_public_path(chat_config, user):
    key, variation_key, version, graph_key = "k", "v", "3", None  # version of the wrong type

    def create_tracker():
        return (key, variation_key, version, graph_key)

    class Odd:
        pass

    odd = Odd()
    odd.create_tracker = create_tracker
    assert _factory_facts(odd) is None
    assert _factory_facts(object()) is None


def test_the_resumption_token_is_made_when_read(bare, chat_config, user):
    provider, _ = bare
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        assert run._resumption_token == ""  # no processor: no baggage, nothing encoded yet
        token = run.resumption_token
    assert json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["runId"] == run.run_id
    assert run.resumption_token == token


def test_attributes_only_the_processor_stamps_reach_the_run_span_with_it_only(
    monkeypatch, bare, make_provider, chat_config, user, exporter
):

    from ldai_otel.model import run as _runs

    create = _runs.Binding.create.__func__

    def create_with_extra(cls, run_id, info, role):
        binding = create(cls, run_id, info, role)
        binding.span_attributes["ld.ai_config.test_extra"] = "processor"
        return binding

    monkeypatch.setattr(_runs.Binding, "create", classmethod(create_with_extra))
    with_processor, _ = make_provider()
    for provider in (with_processor, bare[0]):
        with provider.get_tracer("app").start_as_current_span("request"):
            with ai_run(chat_config, user, tracer_provider=provider):
                pass
        with ai_run(chat_config, user, tracer_provider=provider, new_trace=True):
            pass
    ours = [s for s in exporter.get_finished_spans() if s.name == "ai_run " + CHAT]
    theirs = [s for s in bare[1].get_finished_spans() if s.name == "ai_run " + CHAT]
    assert [s.attributes.get("ld.ai_config.test_extra") for s in ours] == ["processor", "processor"]
    assert [s.attributes.get("ld.ai_config.test_extra") for s in theirs] == [None, None]
