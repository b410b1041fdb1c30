"""Baggage, roles, downstream contexts and deferred feedback, in one process.

Service B is simulated by a second TracerProvider with its own processor and
its own LaunchDarkly client; the run crosses through ``propagate.inject`` /
``propagate.extract`` on a plain dict, as it would through HTTP headers.
The two-process versions of these claims are in test_cross_service.py.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from conftest import CHAT
from genai import by_key, chat, tool, values
from ldclient import Context
from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator, default_getter, default_setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run, current_run, track_feedback
from ldai_otel.baggage import CONTEXT_BAGGAGE_KEY, TOKEN_BAGGAGE_KEY, active_codec
from ldai_otel.testing import flush_events, sink_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "two_services"))
from genai_work import answer_question  # noqa: E402

B_SERVICE = {"kind": "service", "key": "svc-b", "anonymous": True}


@pytest.fixture
def service_b(sink, test_data):
    """A second 'service': its own LaunchDarkly client, provider and processor."""
    made = []

    def make(**options):
        client = sink_client(sink, test_data)
        provider = TracerProvider(resource=Resource.create({"service.name": "svc-b"}))
        processor = LDAISpanProcessor(client, **options)
        provider.add_span_processor(processor)
        made.append((provider, client))
        return provider, processor, client

    yield make
    for provider, client in made:
        provider.shutdown()
        client.close()


def headers_of_run(provider, chat_config, user, **run_options):
    with ai_run(chat_config, user, tracer_provider=provider, **run_options) as run:
        headers: dict[str, str] = {}
        propagate.inject(headers)
    return run, headers


def serve(provider_b, headers) -> None:
    """B's server span gets the extracted context; its GenAI work runs under it."""
    tracer = provider_b.get_tracer("b")
    with tracer.start_as_current_span("POST /answer", context=propagate.extract(headers), kind=trace.SpanKind.SERVER):
        answer_question(tracer)


def test_baggage_holds_only_the_signed_launchdarkly_token(provider, chat_config, user):
    run, headers = headers_of_run(provider, chat_config, user)
    entries = dict(part.split("=", 1) for part in headers["baggage"].split(","))
    assert list(entries) == [TOKEN_BAGGAGE_KEY]
    token, _, signature = entries[TOKEN_BAGGAGE_KEY].rpartition(".")
    assert token == run.resumption_token  # LaunchDarkly's format, readable by any LaunchDarkly SDK
    assert len(base64.urlsafe_b64decode(signature + "==")) == 16
    assert len(headers["baggage"].encode()) < 256
    print("baggage header: %d bytes" % len(headers["baggage"].encode()))


def test_downstream_contributes_tokens_and_tools_and_leaves_outcome_to_the_origin(
    provider, processor, chat_config, user, ld_client, sink, service_b
):
    provider_b, processor_b, client_b = service_b()
    run, headers = headers_of_run(provider, chat_config, user)
    serve(provider_b, headers)

    flush_events(client_b, sink, processor_b)
    events = flush_events(ld_client, sink, processor)
    grouped = by_key(events)
    assert {e["data"]["runId"] for e in events} == {run.run_id}
    assert [e["context"] for e in grouped["$ld:ai:duration:total"]] == [{"kind": "user", "key": "user-42"}]
    assert [e["context"] for e in grouped["$ld:ai:generation:success"]] == [{"kind": "user", "key": "user-42"}]
    assert [(e["metricValue"], e["context"]) for e in grouped["$ld:ai:tokens:total"]] == [(255, B_SERVICE)]
    assert [e["data"]["toolKey"] for e in grouped["$ld:ai:tool_call"]] == ["search_kb"]


def test_plain_launchdarkly_token_is_ignored_unless_trusted_and_then_emits_everything(
    ai_client, chat_config, user, sink, service_b, caplog
):
    plain = chat_config.create_tracker().resumption_token  # written by another LaunchDarkly SDK
    run_id = json.loads(base64.urlsafe_b64decode(plain + "=="))["runId"]
    headers = {"baggage": "%s=%s" % (TOKEN_BAGGAGE_KEY, plain)}

    provider_b, processor_b, client_b = service_b()
    serve(provider_b, headers)
    assert flush_events(client_b, sink, processor_b) == []
    assert "unsigned token" in caplog.text

    provider_t, processor_t, client_t = service_b(trust_unsigned_tokens=True)
    serve(provider_t, headers)
    events = flush_events(client_t, sink, processor_t)
    got = values(events)
    assert {e["data"]["runId"] for e in events} == {run_id}
    assert got["$ld:ai:tokens:total"] == 255
    assert got["$ld:ai:generation:success"] == 1
    assert "$ld:ai:duration:total" in got


def test_propagate_false_writes_no_baggage(make_provider, chat_config, user):
    provider, _ = make_provider(propagate=False)
    _, headers = headers_of_run(provider, chat_config, user)
    assert "baggage" not in headers


def test_propagate_context_carries_kind_and_key_signed_and_bound_to_the_run(
    make_provider, chat_config, sink, service_b
):
    provider, processor = make_provider(propagate_context=True)
    person = Context.builder("person-7").kind("user").name("Private Name").build()
    run, headers = headers_of_run(provider, chat_config, person)
    assert "Private%20Name" not in headers["baggage"] and "Private Name" not in headers["baggage"]

    provider_b, processor_b, client_b = service_b(propagate_context=True)
    serve(provider_b, headers)
    events = flush_events(client_b, sink, processor_b)
    assert events and all(e["context"] == {"kind": "user", "key": "person-7"} for e in events)

    # The context entry moved onto another run's token is refused.
    _, other = headers_of_run(provider, chat_config, Context.create("someone-else"))
    context_entry = [p for p in headers["baggage"].split(",") if p.startswith(CONTEXT_BAGGAGE_KEY)][0]
    token_entry = [p for p in other["baggage"].split(",") if p.startswith(TOKEN_BAGGAGE_KEY)][0]
    forged = {"traceparent": other["traceparent"], "baggage": token_entry + "," + context_entry}
    sink.clear()
    serve(provider_b, forged)
    events = flush_events(client_b, sink, processor_b)
    assert events and all(e["context"] == B_SERVICE for e in events)


def test_context_provider_chooses_the_downstream_context_and_its_errors_are_contained(
    provider, chat_config, user, sink, service_b, caplog
):
    chosen = Context.create("from-provider")
    provider_b, processor_b, client_b = service_b(context_provider=lambda parent: chosen)
    _, headers = headers_of_run(provider, chat_config, user)
    serve(provider_b, headers)
    events = flush_events(client_b, sink, processor_b)
    assert {e["context"]["key"] for e in events} == {"from-provider"}

    def broken(parent):
        raise RuntimeError("provider bug")

    provider_x, processor_x, client_x = service_b(context_provider=broken)
    _, headers = headers_of_run(provider, chat_config, user)
    sink.clear()
    serve(provider_x, headers)
    events = flush_events(client_x, sink, processor_x)
    assert events and all(e["context"] == B_SERVICE for e in events)
    assert "context_provider failed" in caplog.text


def test_deferred_feedback_with_the_resumption_token(provider, chat_config, user, ld_client, sink):
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        pass
    assert track_feedback(ld_client, run.resumption_token, user, "positive") is True
    assert track_feedback(ld_client, "not-a-token", user, "negative") is False
    events = flush_events(ld_client, sink)
    feedback = [e for e in events if e["key"].startswith("$ld:ai:feedback")]
    assert [(e["key"], e["data"]["runId"], e["data"]["configKey"]) for e in feedback] == [
        ("$ld:ai:feedback:user:positive", run.run_id, CHAT),
    ]
    with pytest.raises(ValueError):
        track_feedback(ld_client, run.resumption_token, user, "meh")


def test_current_run_inside_the_scope_and_in_a_downstream_service(provider, chat_config, user, service_b):
    assert current_run() is None
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        ref = current_run()
        headers: dict[str, str] = {}
        propagate.inject(headers)
    assert (ref.run_id, ref.config_key, ref.resumption_token) == (run.run_id, CHAT, run.resumption_token)

    provider_b, _, _ = service_b()
    tracer = provider_b.get_tracer("b")
    # As server instrumentations do: attach the extracted context, then the span.
    token = otel_context.attach(propagate.extract(headers))
    try:
        with tracer.start_as_current_span("server"):
            downstream = current_run()
    finally:
        otel_context.detach(token)
    assert (downstream.run_id, downstream.resumption_token) == (run.run_id, run.resumption_token)


def test_no_baggage_is_written_when_no_processor_exists(chat_config, user):
    # This test's processors from other tests are shut down; none is active here.
    bare = TracerProvider()
    with ai_run(chat_config, user, tracer_provider=bare):
        assert otel_baggage.get_baggage(TOKEN_BAGGAGE_KEY) is None
    bare.shutdown()


def test_resumed_run_in_a_span_tree_whose_server_never_attached_the_context(
    provider, chat_config, user, sink, service_b, ld_client, processor
):
    provider_b, processor_b, client_b = service_b()
    run, headers = headers_of_run(provider, chat_config, user)
    tracer = provider_b.get_tracer("b")
    server = tracer.start_span("POST /answer", context=propagate.extract(headers), kind=trace.SpanKind.SERVER)
    # The handler runs with the server span as parent but without the baggage.
    under_server = trace.set_span_in_context(server, None)
    chat(tracer, 5, 6, context=under_server)
    with trace.use_span(server):
        with tool(tracer, "lookup"):
            pass
    server.end()
    events = flush_events(client_b, sink, processor_b)
    got = values(events)
    assert got["$ld:ai:tokens:total"] == 11
    assert got["$ld:ai:tool_call"] == ["lookup"]
    assert {e["data"]["runId"] for e in events} == {run.run_id}


@pytest.mark.parametrize("layout_known", [True, False], ids=["baggage-key", "get_all-fallback"])
def test_a_span_started_in_an_attached_context_with_run_baggage_resumes_the_run(
    provider, chat_config, user, sink, service_b, monkeypatch, layout_known
):
    # The hot path finds run baggage through the context key baggage lives
    # under; if that layout ever changes it falls back to the public get_all.
    import ldai_otel.processor as processor_module

    if not layout_known:
        monkeypatch.setattr(processor_module, "_BAGGAGE_CONTEXT_KEY", None)
    provider_b, processor_b, client_b = service_b()
    run, headers = headers_of_run(provider, chat_config, user)
    tracer = provider_b.get_tracer("b")
    other = otel_baggage.set_baggage("tenant", "acme", propagate.extract({"traceparent": headers["traceparent"]}))
    for ctx in (other, propagate.extract(headers)):  # unrelated baggage first: no run
        token = otel_context.attach(ctx)
        try:
            with tracer.start_as_current_span("POST /answer", kind=trace.SpanKind.SERVER):
                chat(tracer, 7, 8)
        finally:
            otel_context.detach(token)
    events = flush_events(client_b, sink, processor_b)
    assert values(events)["$ld:ai:tokens:total"] == 15
    assert {e["data"]["runId"] for e in events} == {run.run_id}
    assert len(by_key(events)["$ld:ai:tokens:total"]) == 1


def test_a_run_that_never_leaves_the_process_is_never_signed(provider, processor, chat_config, user, ld_client, sink):
    codec = active_codec()
    assert codec is not None
    before = codec.signatures
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        chat(provider.get_tracer("t"), input_tokens=5, output_tokens=7)
        # Readers in this process (current_run, the sampler, the processor) get the run without a signature.
        assert current_run().run_id == run.run_id
    events = flush_events(ld_client, sink, processor)
    assert {e["data"]["runId"] for e in events} == {run.run_id}
    assert [e["metricValue"] for e in by_key(events)["$ld:ai:tokens:total"]] == [12]
    assert codec.signatures == before


@pytest.mark.parametrize("propagate_context", [False, True], ids=["token", "token+context"])
def test_the_deferred_header_is_byte_identical_to_the_eagerly_signed_one(
    make_provider, chat_config, user, propagate_context
):
    provider, _ = make_provider(propagate_context=propagate_context)
    codec = active_codec()
    before = codec.signatures
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        first, second = {}, {}
        W3CBaggagePropagator().inject(first)
        W3CBaggagePropagator().inject(second)
    # Signed once per entry, on the first injection, and kept.
    assert codec.signatures == before + 1 + propagate_context
    expected = TOKEN_BAGGAGE_KEY + "=" + quote_plus(codec.sign_token(run.resumption_token))
    if propagate_context:
        expected += "," + CONTEXT_BAGGAGE_KEY + "=" + quote_plus(codec.encode_context(user, run.run_id))
    assert first["baggage"] == second["baggage"] == expected


class _TextOnlyPropagator(TextMapPropagator):
    """Like the OT trace propagator: matches each baggage value as text, raising on anything else."""

    def inject(self, carrier, context=None, setter=default_setter):
        for key, value in otel_baggage.get_all(context).items():
            if re.fullmatch(r"[\x20-\x7e]+", value) is not None:
                setter.set(carrier, "ot-baggage-" + key, value)

    def extract(self, carrier, context=None, getter=default_getter):
        return context if context is not None else otel_context.get_current()

    @property
    def fields(self):
        return set()


def test_with_a_propagator_that_needs_text_the_entries_are_text_signed_at_once(make_provider, chat_config, user):
    provider, _ = make_provider()
    codec = active_codec()
    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([W3CBaggagePropagator(), _TextOnlyPropagator()]))
    try:
        before = codec.signatures
        with ai_run(chat_config, user, tracer_provider=provider) as run:
            assert codec.signatures == before + 1
            headers: dict[str, str] = {}
            propagate.inject(headers)  # must not raise
    finally:
        propagate.set_global_textmap(previous)
    signed = codec.sign_token(run.resumption_token)
    assert headers["ot-baggage-" + TOKEN_BAGGAGE_KEY] == signed
    assert headers["baggage"] == TOKEN_BAGGAGE_KEY + "=" + quote_plus(signed)
