"""Exact metrics under head sampling: RunRecordingSampler records run spans, exporters still skip them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from genai import RUN_KEYS, by_key, chat, tool
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.baggage import TOKEN_BAGGAGE_KEY
from ldai_otel.sampler import RunRecordingSampler
from ldai_otel.testing import flush_events

RATE = 0.01
RUNS = 1000


class SeededIds(RandomIdGenerator):
    """Random ids from a seeded generator: which traces the ratio keeps is reproducible."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


def ratio_keeps(trace_id: int, rate: float) -> bool:
    """TraceIdRatioBased's documented rule, computed independently of the sampler."""
    return trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < TraceIdRatioBased.get_bound_for_rate(rate)


@pytest.fixture
def sampled_provider(ld_client, exporter):
    made = []

    def make(sampler, seed: int = 7):
        provider = TracerProvider(sampler=sampler, id_generator=SeededIds(seed))
        processor = LDAISpanProcessor(ld_client)
        provider.add_span_processor(processor)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        made.append(provider)
        return provider, processor

    yield make
    for provider in made:
        provider.shutdown()


def one_request(provider, tracer, config, user, i: int):
    """A sampled-or-not HTTP request whose handler runs one AI Config run."""
    with tracer.start_as_current_span("POST /chat") as server:
        with ai_run(config, user, tracer_provider=provider) as run:
            chat(tracer, i, 1)
            with tool(tracer, "search"):
                pass
            # Started with only the run's span as parent, not the run context:
            # ParentBased drops it (parent not sampled) unless the run is seen.
            chat(tracer, 1000, 0, context=trace.set_span_in_context(run.span, Context()))
    return server, run


def test_every_run_is_measured_under_one_percent_head_sampling_while_one_percent_is_exported(
    sampled_provider, chat_config, user, ld_client, sink, exporter
):
    provider, processor = sampled_provider(RunRecordingSampler(ParentBased(TraceIdRatioBased(RATE))))
    tracer = provider.get_tracer("tests")

    runs = {}
    trace_ids = []
    for i in range(RUNS):
        server, run = one_request(provider, tracer, chat_config, user, i)
        runs[run.run_id] = i
        trace_ids.append(server.get_span_context().trace_id)

    events = flush_events(ld_client, sink, processor)

    # Exactly one run's metrics per run, none lost, none doubled, values exact.
    per_run: dict[str, list[dict]] = {}
    for event in events:
        per_run.setdefault(event["data"]["runId"], []).append(event)
    assert set(per_run) == set(runs)
    for run_id, i in runs.items():
        grouped = by_key(per_run[run_id])
        assert sorted(grouped) == RUN_KEYS, run_id
        assert all(len(group) == 1 for group in grouped.values()), run_id
        assert grouped["$ld:ai:tokens:input"][0]["metricValue"] == i + 1000
        assert grouped["$ld:ai:tokens:total"][0]["metricValue"] == i + 1001
        assert grouped["$ld:ai:tool_call"][0]["data"]["toolKey"] == "search"

    # The exporter got exactly the traces the app's sampler kept: about 1%.
    kept = {tid for tid in trace_ids if ratio_keeps(tid, RATE)}
    assert 3 <= len(kept) <= 25
    spans = exporter.get_finished_spans()
    assert {span.context.trace_id for span in spans} == kept
    assert all(span.context.trace_flags.sampled for span in spans)
    # Whole traces: server, ai_run, two chats and the tool of every kept request.
    assert len(spans) == 5 * len(kept)


def test_without_the_wrapper_runs_in_dropped_traces_are_lost(sampled_provider, chat_config, user, ld_client, sink):
    # The problem the wrapper solves, shown on the same setup: processors only
    # see recording spans, so only runs in sampled traces reach LaunchDarkly.
    provider, processor = sampled_provider(ParentBased(TraceIdRatioBased(0.05)))
    tracer = provider.get_tracer("tests")
    kept_runs, all_runs = set(), set()
    for i in range(200):
        server, run = one_request(provider, tracer, chat_config, user, i)
        all_runs.add(run.run_id)
        if ratio_keeps(server.get_span_context().trace_id, 0.05):
            kept_runs.add(run.run_id)
    events = flush_events(ld_client, sink, processor)
    assert 0 < len(kept_runs) < len(all_runs)
    assert {e["data"]["runId"] for e in events} == kept_runs


def test_spans_outside_runs_keep_the_wrapped_decision(sampled_provider, chat_config, user):
    provider, _ = sampled_provider(RunRecordingSampler(ParentBased(ALWAYS_OFF)))
    tracer = provider.get_tracer("tests")

    plain = tracer.start_span("GET /health")
    assert not plain.is_recording()
    plain.end()
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        inner = tracer.start_span("inner")
    assert run.span is None  # the scope closed
    assert inner.is_recording() and not inner.get_span_context().trace_flags.sampled
    inner.end()
    after = tracer.start_span("GET /health")
    assert not after.is_recording()
    after.end()


def test_record_only_spans_keep_their_creation_attributes(sampled_provider, chat_config, user, exporter):
    provider, _ = sampled_provider(RunRecordingSampler(ALWAYS_OFF))
    tracer = provider.get_tracer("tests")
    with ai_run(chat_config, user, tracer_provider=provider):
        span = chat(tracer, 3, 4, end=False)
        assert span.attributes["gen_ai.usage.input_tokens"] == 3
        assert span.attributes["ld.ai_config.key"] == "chat-config"
        span.end()
    assert exporter.get_finished_spans() == ()


def test_sampled_traces_are_unchanged(sampled_provider, chat_config, user, exporter):
    provider, _ = sampled_provider(RunRecordingSampler(ParentBased(TraceIdRatioBased(1.0))))
    tracer = provider.get_tracer("tests")
    with ai_run(chat_config, user, tracer_provider=provider):
        chat(tracer, 1, 1)
    assert len(exporter.get_finished_spans()) == 2
    assert (
        provider.sampler.get_description() == "RunRecordingSampler{ParentBased{root:TraceIdRatioBased{1.0},"
        "remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,"
        "localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}}"
    )


def test_a_downstream_service_records_runs_resumed_from_signed_baggage_only(
    sampled_provider, chat_config, user, ld_client, sink, exporter
):
    provider, processor = sampled_provider(RunRecordingSampler(ParentBased(ALWAYS_OFF)))
    tracer = provider.get_tracer("tests")
    propagator = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])

    headers: dict[str, str] = {}
    with ai_run(chat_config, user, tracer_provider=provider) as run:
        propagator.inject(headers)
    assert "baggage" in headers and "traceparent" in headers
    assert int(headers["traceparent"].rsplit("-", 1)[1], 16) & 0x01 == 0  # upstream trace not sampled

    # Downstream: the server span starts from the extracted remote context.
    server = tracer.start_span("POST /tool", context=propagator.extract(headers))
    assert server.is_recording() and not server.get_span_context().trace_flags.sampled
    child = chat(tracer, 20, 2, context=trace.set_span_in_context(server, Context()))
    server.end()

    events = flush_events(ld_client, sink, processor)
    downstream = [e for e in events if e["key"] == "$ld:ai:tokens:total" and e["metricValue"] == 22]
    assert [e["data"]["runId"] for e in downstream] == [run.run_id]
    assert child.get_span_context().trace_id == server.get_span_context().trace_id
    assert exporter.get_finished_spans() == ()

    # A forged token (bad signature) leaves the wrapped DROP in place.
    forged = dict(headers)
    forged["baggage"] = headers["baggage"].replace(TOKEN_BAGGAGE_KEY + "=", TOKEN_BAGGAGE_KEY + "=x", 1)
    intruder = tracer.start_span("POST /tool", context=propagator.extract(forged))
    assert not intruder.is_recording()


def test_a_failing_run_check_keeps_the_wrapped_decision(sampled_provider, chat_config, user, caplog, monkeypatch):
    provider, _ = sampled_provider(RunRecordingSampler(ALWAYS_OFF))
    tracer = provider.get_tracer("tests")

    def broken(*args):
        raise RuntimeError("run check bug")

    monkeypatch.setattr(RunRecordingSampler, "_belongs_to_run", broken)
    with ai_run(chat_config, user, tracer_provider=provider):
        span = tracer.start_span("inner")
    assert not span.is_recording()
    assert "run check in the sampler failed" in caplog.text


# --- Zero code: OTEL_TRACES_SAMPLER names the run-recording sampler. ---------

SAMPLED_APP = Path(__file__).resolve().parent / "services" / "sampled_app.py"
ZERO_CODE_RUNS = 40


@pytest.mark.parametrize("ratio, exported", [("0", 0), ("1", 2 * ZERO_CODE_RUNS)])
def test_the_sampler_named_by_environment_under_opentelemetry_instrument_keeps_every_run(sink, ratio, exported):
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {
        **os.environ,
        "LAUNCHDARKLY_SDK_KEY": "sdk-ldai-otel-test",
        "LAUNCHDARKLY_EVENTS_URI": sink.uri,
        "OTEL_TRACES_SAMPLER": "ldai_parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": ratio,
        "OTEL_TRACES_EXPORTER": "none",  # the app adds its own in-memory exporter
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    result = subprocess.run(
        [str(instrument), sys.executable, str(SAMPLED_APP), str(ZERO_CODE_RUNS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["sampler"].startswith("RunRecordingSampler{ParentBased{root:TraceIdRatioBased{%s}" % float(ratio))
    assert report["exported"] == exported  # ai_run span + model span per exported run

    # The zero-code hook closes the processor's client at exit, which sends
    # its events before the process ends: every run's metrics are at the sink.
    events = by_key(sink.ai_events())
    inputs = events["$ld:ai:tokens:input"]
    assert len(inputs) == ZERO_CODE_RUNS
    assert len({e["data"]["runId"] for e in inputs}) == ZERO_CODE_RUNS
    assert {e["metricValue"] for e in inputs} == {10}
    assert {(e["data"]["configKey"], e["data"]["variationKey"], e["data"]["version"]) for e in inputs} == {
        ("chat-config", "v-chat", 3)
    }
    assert len(events["$ld:ai:duration:total"]) == ZERO_CODE_RUNS
    assert len(events["$ld:ai:generation:success"]) == ZERO_CODE_RUNS


@pytest.mark.parametrize(
    "arg, rate", [("0.25", 0.25), (None, 1.0), ("", 1.0), ("abc", 1.0), ("1.5", 1.0), ("nan", 1.0)]
)
def test_sampler_factories_read_the_ratio_like_the_sdk_and_fall_back_to_1(arg, rate, caplog):
    from ldai_otel.sampler import parentbased_traceidratio, traceidratio

    assert traceidratio(arg).get_description() == "RunRecordingSampler{TraceIdRatioBased{%s}}" % rate
    assert (
        parentbased_traceidratio(arg)
        .delegate.get_description()
        .startswith("ParentBased{root:TraceIdRatioBased{%s}" % rate)
    )
    warned = [r for r in caplog.records if "OTEL_TRACES_SAMPLER_ARG" in r.getMessage()]
    assert bool(warned) == (arg != "0.25")
