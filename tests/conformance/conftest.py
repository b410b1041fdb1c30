"""Conformance: real instrumentations, the real ``openai`` client, our processor, a real LDClient.

One pytest process runs one combination of instrumentations (``combos.py``),
named by ``LDAI_OTEL_CONFORMANCE``; ``run.py`` (started by ``scripts/test``)
builds the environments and runs every combination. Without that variable
this folder collects nothing, so the main suite never imports ``openai``.

The session builds, once per process: the loopback OpenAI stub, the loopback
LaunchDarkly event sink, a real ``ldclient.LDClient`` on ``TestData`` whose
events go to the sink, an :class:`~ldai_otel.LDAISpanProcessor` on it, an
in-memory exporter, and the global tracer provider the instrumentations use.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def _load_combos():
    # By path, under a name of its own: the main suite must not get this
    # folder's modules on sys.path (their names are generic).
    spec = importlib.util.spec_from_file_location("ldai_otel_conformance_combos", _HERE / "combos.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_combos = _load_combos()
_COMBO_NAME = os.environ.get(_combos.COMBO_ENV, "")
if not _COMBO_NAME:
    # The main suite: conformance runs only under run.py, one combination per process.
    collect_ignore_glob = ["test_*.py"]
elif _COMBO_NAME not in _combos.COMBOS:
    raise RuntimeError(
        "%s=%r names no combination; known: %s" % (_combos.COMBO_ENV, _COMBO_NAME, ", ".join(_combos.COMBOS))
    )
else:
    sys.path.insert(0, str(_HERE))
    collect_ignore = [c.module for c in _combos.COMBOS.values() if c.module != _combos.COMBOS[_COMBO_NAME].module]


@pytest.fixture(scope="session")
def combo():
    from combos import COMBOS

    return COMBOS[_COMBO_NAME]


@pytest.fixture(scope="session")
def stack(combo) -> Iterator:
    from combos import DUMP_ENV
    from instrumentations import instrument, uninstrument
    from ldai import LDAIClient
    from ldai.models import AICompletionConfigDefault
    from ldclient import Context
    from ldclient.integrations.test_data import TestData
    from openai_stub import OpenAIStub
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from stack import CONFIG_KEY, FIRST_CHUNK_DELAY_S, USER_KEY, VARIATION_KEY, VERSION, Stack

    from ldai_otel import LDAISpanProcessor
    from ldai_otel.testing import LDEventSink, add_ai_config, sink_client

    os.environ.update(combo.env)
    stub = OpenAIStub(first_chunk_delay_s=FIRST_CHUNK_DELAY_S)
    sink = LDEventSink()
    td = TestData.data_source()
    # No model or provider on the AI Config: events then carry the ones the
    # spans name, which is what the dialects are asserted on.
    add_ai_config(td, CONFIG_KEY, variation_key=VARIATION_KEY, version=VERSION, model="", provider="")
    ld_client = sink_client(sink, td)
    processor = LDAISpanProcessor(ld_client)
    exporter = InMemorySpanExporter()
    processors = [processor, SimpleSpanProcessor(exporter)]
    provider = instrument(combo.instrumentations, processors)
    user = Context.create(USER_KEY)
    config = LDAIClient(ld_client).completion_config(CONFIG_KEY, user, AICompletionConfigDefault(enabled=False))
    session = Stack(combo, stub, sink, ld_client, processor, exporter, config, user)
    session.test_data = td  # more flags for cases that need them (agent graphs)
    try:
        yield session
    finally:
        dump_dir = os.environ.get(DUMP_ENV)
        if dump_dir:
            from otlp_file import write_otlp_json

            Path(dump_dir).mkdir(parents=True, exist_ok=True)
            write_otlp_json(exporter.get_finished_spans(), Path(dump_dir) / (_COMBO_NAME + ".jsonl"))
        uninstrument(combo.instrumentations)
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
        ld_client.close()
        sink.close()
        stub.close()


@pytest.fixture(scope="session")
def anthropic_stub() -> Iterator:
    """The loopback Anthropic Messages API (anthropic_stub.py), for the Anthropic combinations."""
    from anthropic_stub import AnthropicStub
    from stack import FIRST_CHUNK_DELAY_S

    stub = AnthropicStub(first_chunk_delay_s=FIRST_CHUNK_DELAY_S)
    try:
        yield stub
    finally:
        stub.close()


@pytest.fixture(scope="session")
def bedrock_stub() -> Iterator:
    """The loopback Bedrock Runtime stub (Converse, ConverseStream) the Bedrock combinations drive."""
    from bedrock_stub import BedrockStub
    from stack import FIRST_CHUNK_DELAY_S

    stub = BedrockStub(first_chunk_delay_s=FIRST_CHUNK_DELAY_S)
    try:
        yield stub
    finally:
        stub.close()


@pytest.fixture(scope="session")
def gemini_stub() -> Iterator:
    """The loopback Gemini API (``gemini_stub.py``), for the google-genai combinations."""
    from gemini_stub import GeminiStub
    from stack import FIRST_CHUNK_DELAY_S

    stub = GeminiStub(first_chunk_delay_s=FIRST_CHUNK_DELAY_S)
    try:
        yield stub
    finally:
        stub.close()
