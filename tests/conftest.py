"""Fixtures: a real TracerProvider, a real LDClient on TestData, a loopback events sink."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from judge_stub import OpenAIStub, point_openai_at
from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient import Context
from ldclient.integrations.test_data import TestData
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ldai_otel import LDAISpanProcessor
from ldai_otel._ratelimit import reset_all as reset_rate_limits
from ldai_otel.testing import LDEventSink, add_ai_config, flush_events, sink_client

CHAT = "chat-config"
JUDGE = "judge-config"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test sees its own first warning; the limiter is process-wide."""
    reset_rate_limits()


@pytest.fixture
def sink() -> Iterator[LDEventSink]:
    with LDEventSink() as s:
        yield s


@pytest.fixture
def test_data() -> TestData:
    td = TestData.data_source()
    add_ai_config(td, CHAT, variation_key="v-chat", version=3, model="gpt-test", provider="openai")
    add_ai_config(td, JUDGE, variation_key="v-judge", version=7, model="judge-model", provider="anthropic")
    return td


@pytest.fixture
def ld_client(sink, test_data):
    client = sink_client(sink, test_data)
    yield client
    client.close()


@pytest.fixture
def ai_client(ld_client) -> LDAIClient:
    return LDAIClient(ld_client)


@pytest.fixture
def user() -> Context:
    return Context.create("user-42")


@pytest.fixture
def chat_config(ai_client, user):
    return ai_client.completion_config(CHAT, user, AICompletionConfigDefault(enabled=False))


@pytest.fixture
def judge_config(ai_client, user):
    return ai_client.completion_config(JUDGE, user, AICompletionConfigDefault(enabled=False))


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def make_provider(ld_client, exporter) -> Iterator[Callable[..., tuple[TracerProvider, LDAISpanProcessor]]]:
    """Builds a TracerProvider with an LDAISpanProcessor (options as kwargs) and an exporter."""
    made: list[TracerProvider] = []

    def make(**options) -> tuple[TracerProvider, LDAISpanProcessor]:
        provider = TracerProvider()
        processor = LDAISpanProcessor(ld_client, **options)
        provider.add_span_processor(processor)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        made.append(provider)
        return provider, processor

    yield make
    for provider in made:
        provider.shutdown()


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    """A loopback OpenAI chat-completions server (answers, and judges' scores)."""
    with OpenAIStub() as s:
        yield s


@pytest.fixture
def instrumented(monkeypatch, stub, make_provider):
    """``make(capture=True, **options)``: a provider with the processor, contrib openai-v2 instrumenting it.

    The ``openai`` client goes to ``stub``; ``capture`` turns message content capture on.
    """
    # Imported here: the floors environment has no openai-v2 instrumentation (its tests are left out there).
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    instrumentors: list[OpenAIInstrumentor] = []

    def make(capture: bool = True, **options) -> tuple[TracerProvider, LDAISpanProcessor]:
        point_openai_at(monkeypatch, stub, capture)
        provider, processor = make_provider(**options)
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=provider)
        instrumentors.append(instrumentor)
        return provider, processor

    yield make
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


@pytest.fixture
def provider_and_processor(make_provider):
    return make_provider()


@pytest.fixture
def provider(provider_and_processor) -> TracerProvider:
    return provider_and_processor[0]


@pytest.fixture
def processor(provider_and_processor) -> LDAISpanProcessor:
    return provider_and_processor[1]


@pytest.fixture
def tracer(provider):
    return provider.get_tracer("tests")


@pytest.fixture
def collect(ld_client, sink, processor):
    """Flushes processor and client; returns the AI run events at the sink."""

    def collect_events():
        return flush_events(ld_client, sink, processor)

    return collect_events
