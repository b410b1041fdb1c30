"""ldai-otel benchmark: ratios measured in one process, medians over interleaved repetitions.

Run from the repository root (about a minute; --memory adds about two)::

    python benchmarks/bench.py                 # non-GenAI, GenAI-heavy, resumed-run parts
    python benchmarks/bench.py --breakdown     # adds where the GenAI-heavy app-thread time goes
    python benchmarks/bench.py --memory        # adds 1,000,000 spans over 100,000 runs (RSS, run table)
    python benchmarks/bench.py --profile       # adds a cProfile of the app's thread, GenAI-heavy workload

Every part runs its variants in the same process on the same workload, one
after another within each repetition, rotating their order; figures are
medians over repetitions, shown as median [IQR] (min..max).

Variants and what they measure (see docs/performance.md for the targets):

- non-GenAI (HTTP-like spans, 3 per request): a bare ``TracerProvider``
  ("bare"), the same with a no-op ``SpanProcessor`` ("noop"), with one that
  does one context lookup and returns ("lookup"), with one that makes only
  the checks any correct processor must make for a span outside any run
  ("floor": run key and run baggage in the context, any run span open), and
  with ``LDAISpanProcessor`` ("ldai"), alternating every 50 requests: wall and
  thread CPU time of the request loop; and the hooks alone, on one real span.
- GenAI-heavy (per request: ``completion_config`` evaluated once, then two chat
  spans with usage, one tool span, three plain spans): "base" (no metrics),
  "hand" (hand-written ``ldai`` tracking: ``create_tracker``,
  ``track_duration``, ``track_tokens``, ``track_success``,
  ``track_tool_call``), "ldai" (``ai_run`` + ``LDAISpanProcessor``), and the
  contract's floor: "floor" (``create_tracker()``, the run's span, the four
  ``ld.ai_config.*`` attributes stamped on every run span: what the run
  contract requires on the app's thread, docs/design.md) and "floor+events" (the same plus
  hand-written tracking's events). The config is evaluated in every variant,
  as an app does once per request. Added cost = variant - base, on the app's
  thread (thread CPU time of the request loop; variants alternate every 20
  requests) and in total (process CPU time until the sink has the events;
  each variant alone). Ratios of added costs are ratios of medians, with a
  bootstrap spread. A real ``LDClient`` sends to a loopback sink running in
  a child process, so receiving the events is not counted.
- resumed run: the cost per downstream request of resuming a run from baggage.
- memory (``--memory``, in a fresh child process): RSS and the run table while
  1,000,000 spans over 100,000 runs go through, a share of them with model
  spans that never end.

Everything binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import collections
import gc
import importlib.util
import itertools
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence

from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldai.tracker import TokenUsage
from ldclient import Config, Context, LDClient
from ldclient.integrations.test_data import TestData
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from ldai_otel import LDAISpanProcessor, ai_run, baggage
from ldai_otel.processor import _BAGGAGE_CONTEXT_KEY  # the context key W3C baggage lives under
from ldai_otel.testing import add_ai_config

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_KEY = "chat-config"
MARKER_KEY = "ldai-otel-bench:marker"
DEFAULT_CONFIG = AICompletionConfigDefault(enabled=False)
_get_current = otel_context.get_current


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------


class Spread:
    """Median, interquartile range and extremes of one measured figure."""

    def __init__(self, values: Sequence[float]):
        ordered = sorted(values)
        self.values = ordered
        self.median = statistics.median(ordered)
        if len(ordered) >= 4:
            quartiles = statistics.quantiles(ordered, n=4, method="inclusive")
            self.q1, self.q3 = quartiles[0], quartiles[2]
        else:
            self.q1, self.q3 = ordered[0], ordered[-1]
        self.low, self.high = ordered[0], ordered[-1]

    def format(self, fmt: str = "%.3f") -> str:
        return (fmt + " [IQR " + fmt + "-" + fmt + "] (" + fmt + ".." + fmt + ")") % (
            self.median,
            self.q1,
            self.q3,
            self.low,
            self.high,
        )


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


class AddedRatio:
    """(variant - base) / (reference - base), as a ratio of medians over repetitions.

    A ratio per repetition would divide by a small, noisy difference (the
    reference's added cost is a fraction of the request's); the ratio of the
    medians is steadier. Its spread comes from a bootstrap over repetitions
    (pairs kept together): IQR and a 95% interval.
    """

    def __init__(
        self, samples: dict, variant: str, reference: str, attr: str, resamples: int = 2000, base: str | None = "base"
    ):
        if base is None:  # (variant - reference) / reference: what the variant adds to the reference
            ref = [getattr(s, attr) for s in samples[reference]]
            ours = [getattr(s, attr) - r for s, r in zip(samples[variant], ref, strict=True)]
        else:
            base_values = [getattr(s, attr) for s in samples[base]]
            ours = [getattr(s, attr) - b for s, b in zip(samples[variant], base_values, strict=True)]
            ref = [getattr(s, attr) - b for s, b in zip(samples[reference], base_values, strict=True)]
        self.median = ratio(statistics.median(ours), statistics.median(ref))
        rng = random.Random(20261122)  # fixed: the same samples give the same spread
        n = len(ours)
        boot = []
        for _ in range(resamples):
            picks = [rng.randrange(n) for _ in range(n)]
            boot.append(ratio(statistics.median([ours[i] for i in picks]), statistics.median([ref[i] for i in picks])))
        boot.sort()
        self.q1, self.q3 = boot[len(boot) // 4], boot[(3 * len(boot)) // 4]
        self.low, self.high = boot[int(len(boot) * 0.025)], boot[int(len(boot) * 0.975) - 1]

    def format(self, fmt: str = "%.2f") -> str:
        return (fmt + " [IQR " + fmt + "-" + fmt + "] (95%% " + fmt + ".." + fmt + ")") % (
            self.median,
            self.q1,
            self.q3,
            self.low,
            self.high,
        )


# --------------------------------------------------------------------------
# Loopback LaunchDarkly events sink (child process) and LD client
# --------------------------------------------------------------------------


class SinkProcess:
    """The events sink of ``benchmarks/_sink.py``, run as a child process on 127.0.0.1."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_sink.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.uri = self._process.stdout.readline().strip()
        if not self.uri.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError("events sink did not start")
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        return next(self._seq)

    def wait(self, seq: int) -> None:
        with urllib.request.urlopen(self.uri + "/wait/%d" % seq, timeout=60) as answer:
            if answer.status != 200:
                raise RuntimeError("flush marker %d never arrived" % seq)

    def counts(self) -> dict:
        with urllib.request.urlopen(self.uri + "/counts", timeout=10) as answer:
            return json.loads(answer.read())

    def close(self) -> None:
        try:
            self._process.stdin.close()
            self._process.wait(timeout=10)
        except Exception:
            self._process.kill()
            self._process.wait(timeout=10)


def make_ld_client(sink: SinkProcess, max_pending: int = 1_000_000, send_events: bool = True) -> LDClient:
    """A real LDClient on TestData sending events to the sink, flushed only when asked."""
    td = TestData.data_source()
    add_ai_config(td, CONFIG_KEY, variation_key="v-chat", version=3, model="gpt-test", provider="openai")
    config = Config(
        "sdk-ldai-otel-bench",
        update_processor_class=td,
        events_uri=sink.uri,
        send_events=send_events,
        diagnostic_opt_out=True,
        flush_interval=3600,
        events_max_pending=max_pending,
    )
    return LDClient(config=config, start_wait=5)


def deliver(ld_client: LDClient, sink: SinkProcess, processor: LDAISpanProcessor | None = None) -> None:
    """Hands everything to the client, flushes once and waits until the sink has it.

    A marker tracked before the one flush arrives in the same payload as every
    event queued before it (the same technique as ``ldai_otel.testing.flush_events``).
    """
    seq = sink.next_seq()
    ld_client.track(MARKER_KEY, Context.create("ldai-otel-bench"), {"seq": seq})
    if processor is not None:
        processor.force_flush()
    else:
        ld_client.flush()
    sink.wait(seq)


class NoopProcessor(SpanProcessor):
    """The cheapest possible span processor: the floor any processor pays."""

    def on_start(self, span, parent_context=None) -> None:
        pass

    def on_end(self, span) -> None:
        pass


class LookupProcessor(SpanProcessor):
    """The hot path and nothing else: "a span outside any run costs a context
    lookup and returns" (docs/design.md, "Never breaking the host app").

    It gets the span's parent context (the current one when the SDK passes
    none, as ``start_as_current_span`` does) and looks for one key in it. No
    real processor that finds runs in the context can do less; ours also
    looks for a run token in baggage and checks its run table.
    """

    def on_start(self, span, parent_context=None) -> None:
        ctx = _get_current() if parent_context is None else parent_context
        if MARKER_KEY not in ctx:
            return

    def on_end(self, span) -> None:
        pass


class MembershipFloorProcessor(SpanProcessor):
    """The least a *correct* processor does for a span outside any run.

    A span belongs to a run when its parent context carries one (``ai_run``'s
    key, or a run token in baggage) or its parent span is a run span; so it
    must look at both context entries and at whether any run span is open.
    This does exactly that, with nothing around it: no error handling, no
    fallback for another baggage layout, no work for spans that are in a run.
    """

    def __init__(self) -> None:
        self.members: dict = {}  # always empty: no run in this workload

    def on_start(self, span, parent_context=None) -> None:
        ctx = _get_current() if parent_context is None else parent_context
        if MARKER_KEY not in ctx and not self.members:
            if _BAGGAGE_CONTEXT_KEY not in ctx:
                return

    def on_end(self, span) -> None:
        if not self.members:
            return


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------

HTTP_SPANS_PER_REQUEST = 3


def http_request(tracer: trace.Tracer, i: int) -> None:
    """An HTTP-like request: a server span, a database span, an outbound call."""
    with tracer.start_as_current_span(
        "GET /orders/{id}",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": "GET",
            "url.path": "/orders/42",
            "http.route": "/orders/{id}",
            "server.address": "shop.internal",
            "client.address": "10.0.0.7",
            "user_agent.original": "bench/1.0",
        },
    ) as server:
        with tracer.start_as_current_span(
            "SELECT orders",
            kind=SpanKind.CLIENT,
            attributes={"db.system.name": "postgresql", "db.query.text": "SELECT * FROM orders WHERE id = $1"},
        ):
            pass
        with tracer.start_as_current_span(
            "GET",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": "GET", "url.full": "http://stock.internal/items/42"},
        ) as client:
            client.set_attribute("http.response.status_code", 200)
        server.set_attribute("http.response.status_code", 200)


CHAT_START = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-test",
}
USAGE = (
    {"gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40, "gen_ai.response.model": "gpt-test"},
    {"gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 60, "gen_ai.response.model": "gpt-test"},
)
TOOL_START = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
GENAI_SPANS_PER_REQUEST = 6
AI_RUN_KEYS = (
    "$ld:ai:duration:total",
    "$ld:ai:generation:success",
    "$ld:ai:tokens:input",
    "$ld:ai:tokens:output",
    "$ld:ai:tokens:total",
    "$ld:ai:tool_call",
)


def genai_spans(
    tracer: trace.Tracer, on_chat: Callable[[dict], None] | None = None, on_tool: Callable[[str], None] | None = None
) -> None:
    """Two chat spans with usage, one tool span, three plain spans."""
    with tracer.start_as_current_span("load history", attributes={"db.system.name": "redis"}):
        pass
    for n, usage in enumerate(USAGE):
        with tracer.start_as_current_span("chat gpt-test", kind=SpanKind.CLIENT, attributes=CHAT_START) as span:
            span.set_attributes(usage)  # usage arrives with the response
            if on_chat is not None:
                on_chat(usage)
        if n == 0:
            with tracer.start_as_current_span("execute_tool search", attributes=TOOL_START):
                with tracer.start_as_current_span(
                    "GET", kind=SpanKind.CLIENT, attributes={"url.full": "http://search.internal/q"}
                ):
                    pass
            if on_tool is not None:
                on_tool("search")
    with tracer.start_as_current_span("save answer", attributes={"db.system.name": "redis"}):
        pass


class StampingProcessor(SpanProcessor):
    """Stamps the four ``ld.ai_config.*`` attributes on GenAI spans at start, and does nothing else.

    The run contract wants the run's GenAI spans to carry them from ``on_start``
    (the run's own span is started with them); this is the least any
    implementation pays for that on the app's thread.
    """

    ATTRIBUTES = {
        "ld.ai_config.key": CONFIG_KEY,
        "ld.ai_config.variation_key": "v-chat",
        "ld.ai_config.version": 3,
        "ld.ai_config.run_id": "6b1f3c2a-5d0e-4c7a-9f41-0a2b3c4d5e6f",
    }

    def on_start(self, span, parent_context=None) -> None:
        if "gen_ai.operation.name" in span.attributes:
            span.set_attributes(self.ATTRIBUTES)


RUN_SPAN_ATTRIBUTES = {
    **StampingProcessor.ATTRIBUTES,
    "ld.ai_config.model_name": "gpt-test",
    "ld.ai_config.provider_name": "openai",
}
"""What ``ai_run`` writes on its own span: the run identity, the config's model and provider."""


class GenAIWorkload:
    """The GenAI-heavy request in its variants, sharing one LD client."""

    def __init__(self, ld_client: LDClient, ai_client: LDAIClient, bare: TracerProvider, ldai: TracerProvider):
        self.ld_client = ld_client
        self.ai_client = ai_client
        self.bare = bare
        self.bare_tracer = bare.get_tracer("bench")
        self.ldai = ldai
        self.ldai_tracer = ldai.get_tracer("bench")
        self.stamping = TracerProvider()
        self.stamping.add_span_processor(StampingProcessor())
        self.stamping_tracer = self.stamping.get_tracer("bench")
        self.users = [Context.create("user-%d" % i) for i in range(64)]
        self.processor: LDAISpanProcessor | None = None
        # The `ldai-otel serve` deployment: ai_run and the app's spans on a
        # provider with no LDAISpanProcessor at all.
        self.plain = TracerProvider()
        self.plain_tracer = self.plain.get_tracer("bench")

    @classmethod
    def create(cls, ld_client: LDClient) -> GenAIWorkload:
        """The workload on a bare provider and on one with LDAISpanProcessor."""
        ldai = TracerProvider()
        processor = LDAISpanProcessor(ld_client)
        ldai.add_span_processor(processor)
        workload = cls(ld_client, LDAIClient(ld_client), TracerProvider(), ldai)
        workload.processor = processor
        workload.codec = baggage.active_codec()
        return workload

    def shutdown(self) -> None:
        for provider in (self.bare, self.ldai, self.stamping, self.plain):
            provider.shutdown()

    def base(self, i: int) -> None:
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with self.bare_tracer.start_as_current_span("handle request"):
            genai_spans(self.bare_tracer)
        del config

    def hand(self, i: int) -> None:
        self._hand(i, run_span=False)

    def _hand(self, i: int, run_span: bool) -> None:
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        tracker = config.create_tracker()
        totals = [0, 0]

        def on_chat(usage: dict) -> None:
            totals[0] += usage["gen_ai.usage.input_tokens"]
            totals[1] += usage["gen_ai.usage.output_tokens"]

        start = time.perf_counter_ns()
        with self.bare_tracer.start_as_current_span("handle request"):
            if run_span:
                with self.stamping_tracer.start_as_current_span("ai_run " + CONFIG_KEY):
                    genai_spans(self.stamping_tracer, on_chat, tracker.track_tool_call)
            else:
                genai_spans(self.bare_tracer, on_chat, tracker.track_tool_call)
        tracker.track_duration((time.perf_counter_ns() - start) // 1_000_000)
        tracker.track_tokens(TokenUsage(total=totals[0] + totals[1], input=totals[0], output=totals[1]))
        tracker.track_success()

    def floor(self, i: int) -> None:
        """The least the run contract costs on the app's thread.

        Read the config's variation and version (``create_tracker()``, the
        only public way), start the run's span, stamp the four
        ``ld.ai_config.*`` attributes on every run span at start. Building
        LaunchDarkly events is left out: it may happen on another thread.
        """
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        config.create_tracker()
        with self.bare_tracer.start_as_current_span("handle request"):
            with self.stamping_tracer.start_as_current_span("ai_run " + CONFIG_KEY, attributes=RUN_SPAN_ATTRIBUTES):
                genai_spans(self.stamping_tracer)

    def scope_alone(self, i: int) -> None:
        """``ai_run`` with no processor anywhere (the ``ldai-otel serve`` deployment).

        No processor means no codec to sign baggage with; the GenAI-heavy part
        has one (ours), so it is set aside for this variant's request.
        """
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        baggage.set_active_codec(None)
        try:
            with self.plain_tracer.start_as_current_span("handle request"):
                with ai_run(config, user, tracer_provider=self.plain):
                    genai_spans(self.plain_tracer)
        finally:
            baggage.set_active_codec(self.codec)

    def run_span(self, i: int) -> None:
        """The least ``ai_run`` alone can cost: one more span, started with what ai_run writes on it."""
        user = self.users[i % 64]
        self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with self.plain_tracer.start_as_current_span("handle request"):
            with self.plain_tracer.start_as_current_span("ai_run " + CONFIG_KEY, attributes=RUN_SPAN_ATTRIBUTES):
                genai_spans(self.plain_tracer)

    def floor_with_events(self, i: int) -> None:
        """:meth:`floor` plus the same LaunchDarkly events as hand-written tracking:
        the least the contract costs in total CPU."""
        self._hand(i, run_span=True)

    def ours(self, i: int) -> None:
        user = self.users[i % 64]
        config = self.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with self.ldai_tracer.start_as_current_span("handle request"):
            with ai_run(config, user, tracer_provider=self.ldai):
                genai_spans(self.ldai_tracer)


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------


class Sample:
    """One variant's figures for one repetition, per request (microseconds)."""

    __slots__ = ("wall_us", "thread_us", "cpu_us")

    def __init__(self, wall_us: float, thread_us: float, cpu_us: float):
        self.wall_us = wall_us
        self.thread_us = thread_us
        self.cpu_us = cpu_us


def measure(request: Callable[[int], None], n: int, settle: Callable[[], None]) -> Sample:
    """Runs ``n`` requests; then ``settle`` (deliver), counted in process CPU only."""
    gc.collect()
    cpu0 = time.process_time_ns()
    thread0 = time.thread_time_ns()
    wall0 = time.perf_counter_ns()
    for i in range(n):
        request(i)
    wall1 = time.perf_counter_ns()
    thread1 = time.thread_time_ns()
    settle()
    cpu1 = time.process_time_ns()
    return Sample((wall1 - wall0) / n / 1000.0, (thread1 - thread0) / n / 1000.0, (cpu1 - cpu0) / n / 1000.0)


def interleaved(
    variants: dict[str, tuple[Callable[[int], None], Callable[[], None]]], n: int, reps: int, warmup: int = 1
) -> dict[str, list[Sample]]:
    """Runs each variant once per repetition, rotating the order; drops warm-up reps."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for rep in range(warmup + reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            request, settle = variants[name]
            sample = measure(request, n, settle)
            if rep >= warmup:
                samples[name].append(sample)
    return samples


def finely_interleaved(
    variants: dict[str, Callable[[int], None]], n: int, reps: int, block: int = 50, warmup: int = 1
) -> dict[str, list[Sample]]:
    """Like :func:`interleaved`, for variants with no background work: each
    repetition alternates the variants every ``block`` requests, so that all
    of them see the same machine load (other processes, CPU frequency)."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    blocks = max(n // block, 1)
    for rep in range(warmup + reps):
        gc.collect()
        wall = dict.fromkeys(names, 0)
        thread = dict.fromkeys(names, 0)
        for b in range(blocks):
            order = names[(rep + b) % len(names) :] + names[: (rep + b) % len(names)]
            for name in order:
                request = variants[name]
                thread0 = time.thread_time_ns()
                wall0 = time.perf_counter_ns()
                for i in range(block):
                    request(i)
                wall[name] += time.perf_counter_ns() - wall0
                thread[name] += time.thread_time_ns() - thread0
        if rep >= warmup:
            total = blocks * block * 1000.0
            for name in names:
                samples[name].append(Sample(wall[name] / total, thread[name] / total, thread[name] / total))
    return samples


def per_rep(samples: dict[str, list[Sample]], fn: Callable[..., float], *names: str, attr: str) -> Spread:
    series = [[getattr(s, attr) for s in samples[name]] for name in names]
    return Spread([fn(*values) for values in zip(*series, strict=True)])


# --------------------------------------------------------------------------
# Parts
# --------------------------------------------------------------------------


def part_non_genai(ld_client: LDClient, args: argparse.Namespace) -> dict:
    bare = TracerProvider()
    noop = TracerProvider()
    noop.add_span_processor(NoopProcessor())
    lookup = TracerProvider()
    lookup.add_span_processor(LookupProcessor())
    floor = TracerProvider()
    floor.add_span_processor(MembershipFloorProcessor())
    ldai = TracerProvider()
    processor = LDAISpanProcessor(ld_client)
    ldai.add_span_processor(processor)
    # No exporter in any variant: a batch processor's worker thread would add
    # noise to every variant, and without one the ratio is the strictest.
    providers = (("bare", bare), ("noop", noop), ("lookup", lookup), ("floor", floor), ("ldai", ldai))
    tracers = {name: p.get_tracer("bench") for name, p in providers}
    variants = {name: (lambda i, t=tracer: http_request(t, i)) for name, tracer in tracers.items()}
    samples = finely_interleaved(variants, args.http_requests, args.http_reps)
    per_span = 1.0 / HTTP_SPANS_PER_REQUEST
    result = {"reps": args.http_reps}
    for attr in ("wall_us", "thread_us"):
        result[attr] = {
            "ratio_ldai_vs_bare": per_rep(samples, ratio, "ldai", "bare", attr=attr),
            "ratio_noop_vs_bare": per_rep(samples, ratio, "noop", "bare", attr=attr),
            "ratio_lookup_vs_bare": per_rep(samples, ratio, "lookup", "bare", attr=attr),
            "ratio_floor_vs_bare": per_rep(samples, ratio, "floor", "bare", attr=attr),
            "ratio_ldai_vs_floor": per_rep(samples, ratio, "ldai", "floor", attr=attr),
            "ldai_minus_floor_us_per_span": per_rep(
                samples, lambda ours, f: (ours - f) * per_span, "ldai", "floor", attr=attr
            ),
            "ldai_overhead_us_per_span": per_rep(
                samples, lambda ours, b: (ours - b) * per_span, "ldai", "bare", attr=attr
            ),
            "noop_overhead_us_per_span": per_rep(samples, lambda o, b: (o - b) * per_span, "noop", "bare", attr=attr),
            "ldai_minus_noop_us_per_span": per_rep(
                samples, lambda ours, o: (ours - o) * per_span, "ldai", "noop", attr=attr
            ),
            "bare_us_per_span": per_rep(samples, lambda b: b * per_span, "bare", attr=attr),
        }
    result["hooks"] = hook_costs(processor, args.hook_calls)
    for _, p in providers:
        p.shutdown()
    return result


def hook_costs(processor: LDAISpanProcessor, n: int = 200_000) -> dict:
    """Thread CPU per call of the hooks on a span outside any run, against a no-op's.

    The same real SDK span and context are handed to each hook in a tight
    loop, so the figure is the hook's own cost, free of the workload's noise.
    """
    from opentelemetry import context as otel_context

    provider = TracerProvider()
    tracer = provider.get_tracer("bench")
    noop = NoopProcessor()
    with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER):
        span = tracer.start_span("SELECT orders", kind=SpanKind.CLIENT, attributes={"db.system.name": "postgresql"})
        ctx = otel_context.get_current()
    span.end()
    readable = span._readable_span()  # what the SDK hands to on_end

    def per_call(fn, *call_args) -> float:
        for _ in range(1000):
            fn(*call_args)
        start = time.thread_time_ns()
        for _ in range(n):
            fn(*call_args)
        return (time.thread_time_ns() - start) / n / 1000.0

    figures = {}
    for name, p in (("ldai", processor), ("noop", noop)):
        figures[name + "_on_start_us"] = Spread([per_call(p.on_start, span, ctx) for _ in range(5)])
        figures[name + "_on_end_us"] = Spread([per_call(p.on_end, readable) for _ in range(5)])
    provider.shutdown()
    return figures


def part_genai(ld_client: LDClient, sink: SinkProcess, args: argparse.Namespace) -> dict:
    workload = GenAIWorkload.create(ld_client)
    processor = workload.processor
    before = sink.counts()
    # App-thread CPU: the variants alternate every 20 requests, so all of them
    # see the same machine load; background work (LaunchDarkly's threads, our
    # emitter) runs on other threads and is not on this clock. Wall time is
    # not reported here: one variant's background work runs during the
    # others' blocks.
    app = finely_interleaved(
        {
            "base": workload.base,
            "hand": workload.hand,
            "ldai": workload.ours,
            "floor": workload.floor,
            "scope": workload.scope_alone,
            "runspan": workload.run_span,
        },
        args.genai_requests,
        args.reps,
        block=20,
    )
    deliver(ld_client, sink, processor)
    # Total CPU: each variant runs alone until its events are at the sink, so
    # its background work runs inside its own measurement, on the process
    # CPU clock.
    settle_plain = lambda: deliver(ld_client, sink)  # noqa: E731
    settle_ldai = lambda: deliver(ld_client, sink, processor)  # noqa: E731
    total = interleaved(
        {
            "base": (workload.base, settle_plain),
            "hand": (workload.hand, settle_plain),
            "ldai": (workload.ours, settle_ldai),
            "floor+events": (workload.floor_with_events, settle_plain),
        },
        args.genai_requests,
        args.reps,
    )
    after = sink.counts()
    delivered = {key: after.get(key, 0) - before.get(key, 0) for key in after}

    def added(samples: dict, name: str, attr: str) -> Spread:
        return per_rep(samples, lambda v, b: v - b, name, "base", attr=attr)

    result = {
        "base_thread_us": per_rep(app, lambda b: b, "base", attr="thread_us"),
        "hand_added_thread_us": added(app, "hand", "thread_us"),
        "ldai_added_thread_us": added(app, "ldai", "thread_us"),
        "floor_added_thread_us": added(app, "floor", "thread_us"),
        "scope_added_thread_us": added(app, "scope", "thread_us"),
        "runspan_added_thread_us": added(app, "runspan", "thread_us"),
        "scope_ratio": AddedRatio(app, "scope", "hand", "thread_us"),
        "runspan_ratio": AddedRatio(app, "runspan", "hand", "thread_us"),
        "thread_ratio": AddedRatio(app, "ldai", "hand", "thread_us"),
        "floor_thread_ratio": AddedRatio(app, "floor", "hand", "thread_us"),
        "ldai_vs_floor_thread": AddedRatio(app, "ldai", "floor", "thread_us"),
        "base_cpu_us": per_rep(total, lambda b: b, "base", attr="cpu_us"),
        "hand_added_cpu_us": added(total, "hand", "cpu_us"),
        "ldai_added_cpu_us": added(total, "ldai", "cpu_us"),
        "floor_events_added_cpu_us": added(total, "floor+events", "cpu_us"),
        "cpu_ratio": AddedRatio(total, "ldai", "hand", "cpu_us"),
        "floor_events_cpu_ratio": AddedRatio(total, "floor+events", "hand", "cpu_us"),
        "ldai_vs_floor_events_cpu": AddedRatio(total, "ldai", "floor+events", "cpu_us"),
        "delivered": delivered,
        # Requests per variant and part, warm-up included; "hand" and "ldai"
        # send in both parts, "floor+events" in the total-CPU part only.
        "requests": args.genai_requests * (args.reps + 1),
    }
    processor.shutdown()
    workload.shutdown()
    return result


def part_resumed(ld_client: LDClient, sink: SinkProcess, args: argparse.Namespace) -> dict | None:
    """Resumed-run cost per downstream request (signed token; cached and uncached).

    A downstream request is a server span started from extracted W3C headers,
    a chat span with usage and a plain span under it. Variants, all on one
    provider with ``LDAISpanProcessor``: "plain" (headers without baggage: no
    run), "cached" (the same signed token every request: the processor's
    verification cache hits) and "uncached" (a fresh run's token every
    request: HMAC check and decode each time). Tokens are minted before the
    clock starts. Returns None when ``ldai_otel.baggage`` does not exist.
    """
    if importlib.util.find_spec("ldai_otel.baggage") is None:
        return None
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    ai_client = LDAIClient(ld_client)
    upstream = TracerProvider()
    downstream = TracerProvider()
    processor = LDAISpanProcessor(ld_client)  # the codec ai_run signs with is the latest processor's
    downstream.add_span_processor(processor)
    tracer = downstream.get_tracer("bench")
    user = Context.create("user-upstream")
    config = ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)

    def mint(count: int) -> list[dict]:
        headers = []
        for _ in range(count):
            carrier: dict = {}
            with ai_run(config, user, tracer_provider=upstream, new_trace=True):
                propagator.inject(carrier)
            headers.append(carrier)
        return headers

    n = args.resumed_requests
    fresh = mint(n * (args.resumed_reps + 1))
    same = mint(1)[0]
    plain = {"traceparent": same["traceparent"]}
    cursor = itertools.count()

    def serve(headers: dict) -> None:
        server = tracer.start_span("POST /tools/search", context=propagator.extract(headers), kind=SpanKind.SERVER)
        with trace.use_span(server, end_on_exit=True):
            with tracer.start_as_current_span("chat gpt-test", kind=SpanKind.CLIENT, attributes=CHAT_START) as chat:
                chat.set_attributes(USAGE[0])
            with tracer.start_as_current_span("SELECT documents"):
                pass

    settle = lambda: deliver(ld_client, sink, processor)  # noqa: E731
    variants = {
        "plain": (lambda i: serve(plain), settle),
        "cached": (lambda i: serve(same), settle),
        "uncached": (lambda i: serve(fresh[next(cursor)]), settle),
    }
    before = sink.counts()
    samples = interleaved(variants, n, args.resumed_reps)
    after = sink.counts()
    result = {
        "plain_thread_us": per_rep(samples, lambda p: p, "plain", attr="thread_us"),
        "cached_added_thread_us": per_rep(samples, lambda c, p: c - p, "cached", "plain", attr="thread_us"),
        "uncached_added_thread_us": per_rep(samples, lambda u, p: u - p, "uncached", "plain", attr="thread_us"),
        "cached_thread_ratio": per_rep(samples, ratio, "cached", "plain", attr="thread_us"),
        "uncached_thread_ratio": per_rep(samples, ratio, "uncached", "plain", attr="thread_us"),
        "cached_added_ratio": AddedRatio(samples, "cached", "plain", "thread_us", base=None),
        "uncached_added_ratio": AddedRatio(samples, "uncached", "plain", "thread_us", base=None),
        "cached_added_cpu_us": per_rep(samples, lambda c, p: c - p, "cached", "plain", attr="cpu_us"),
        "uncached_added_cpu_us": per_rep(samples, lambda u, p: u - p, "uncached", "plain", attr="cpu_us"),
        "resumed_token_events": after.get("$ld:ai:tokens:total", 0) - before.get("$ld:ai:tokens:total", 0),
        "resumed_requests": 2 * n * (args.resumed_reps + 1),
    }
    processor.shutdown()
    downstream.shutdown()
    upstream.shutdown()
    return result


# --------------------------------------------------------------------------
# One instrumented OpenAI call (openai-v2 + the real openai client, loopback stub)
# --------------------------------------------------------------------------


def part_openai(ld_client: LDClient, sink: SinkProcess, args: argparse.Namespace) -> dict | None:
    """The overhead as a share of one instrumented OpenAI call.

    The real ``openai`` client, instrumented by contrib ``openai-v2``, calls
    the conformance suite's OpenAI-compatible stub on 127.0.0.1 (its server
    thread is not on the app thread's clock). Variants, alternating every 10
    calls, each evaluating the config first as an app does: "call" (the call
    under a request span, outside any run), "hand" (plus hand-written
    tracking of duration, tokens and success) and "ldai" (the call inside
    ``ai_run``, ``LDAISpanProcessor`` installed). Returns None without the
    ``bench`` dependency group (``pip install -e . --group bench``, pip >= 25.1).
    """
    if importlib.util.find_spec("openai") is None or importlib.util.find_spec("opentelemetry.instrumentation") is None:
        return None
    if importlib.util.find_spec("opentelemetry.instrumentation.openai_v2") is None:
        return None
    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    sys.path.insert(0, os.path.join(HERE, os.pardir, "tests", "conformance"))
    from openai_stub import OpenAIStub

    logging.getLogger("httpx").setLevel(logging.WARNING)
    provider = TracerProvider()
    processor = LDAISpanProcessor(ld_client)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    stub = OpenAIStub()
    client = openai.OpenAI(base_url=stub.base_url, api_key="sk-bench", max_retries=0)
    ai_client = LDAIClient(ld_client)
    users = [Context.create("user-%d" % i) for i in range(64)]
    messages = [{"role": "user", "content": "Say hello."}]

    def call(i: int) -> None:
        ai_client.completion_config(CONFIG_KEY, users[i % 64], DEFAULT_CONFIG)
        with tracer.start_as_current_span("handle request"):
            client.chat.completions.create(model="gpt-test", messages=messages)

    def hand(i: int) -> None:
        user = users[i % 64]
        config = ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        tracker = config.create_tracker()
        with tracer.start_as_current_span("handle request"):
            start = time.perf_counter_ns()
            response = client.chat.completions.create(model="gpt-test", messages=messages)
            tracker.track_duration((time.perf_counter_ns() - start) // 1_000_000)
            usage = response.usage
            tracker.track_tokens(
                TokenUsage(total=usage.total_tokens, input=usage.prompt_tokens, output=usage.completion_tokens)
            )
            tracker.track_success()

    def ours(i: int) -> None:
        user = users[i % 64]
        config = ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with tracer.start_as_current_span("handle request"):
            with ai_run(config, user, tracer_provider=provider):
                client.chat.completions.create(model="gpt-test", messages=messages)

    try:
        before = sink.counts()
        samples = finely_interleaved(
            {"call": call, "hand": hand, "ldai": ours}, args.openai_calls, args.openai_reps, block=10
        )
        deliver(ld_client, sink, processor)
        after = sink.counts()
    finally:
        instrumentor.uninstrument()
        client.close()
        stub.close()
    key = "$ld:ai:tokens:total"
    result = {
        "call_thread_us": per_rep(samples, lambda c: c, "call", attr="thread_us"),
        "call_wall_us": per_rep(samples, lambda c: c, "call", attr="wall_us"),
        "hand_added_thread_us": per_rep(samples, lambda v, c: v - c, "hand", "call", attr="thread_us"),
        "ldai_added_thread_us": per_rep(samples, lambda v, c: v - c, "ldai", "call", attr="thread_us"),
        "hand_share": AddedRatio(samples, "hand", "call", "thread_us", base=None),
        "ldai_share": AddedRatio(samples, "ldai", "call", "thread_us", base=None),
        "ldai_share_wall": AddedRatio(samples, "ldai", "call", "wall_us", base=None),
        "token_events": after.get(key, 0) - before.get(key, 0),
        "requests": 2 * args.openai_calls * (args.openai_reps + 1),
    }
    processor.shutdown()
    provider.shutdown()
    return result


# --------------------------------------------------------------------------
# Memory (child process)
# --------------------------------------------------------------------------


def rss_mb() -> float:
    """Resident set size now, from /proc (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)


def memory_child(args: argparse.Namespace) -> None:
    """1,000,000 spans over 100,000 runs; prints one JSON line per checkpoint.

    By default the LaunchDarkly client does not send events: at this synthetic
    rate (one core creating runs as fast as it can) the client's own event
    buffer fills to its capacity and its memory would swamp ours. Emission
    still goes through ``LDAIConfigTracker`` and ``ldclient.track``; the
    segments emitted are counted. ``--memory-send-events`` sends them too.
    """
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # the client's pool size notes
    logging.getLogger("ldai_otel").setLevel(logging.ERROR)  # rate-limited "span never ended" notes, expected here
    sink = SinkProcess()
    ld_client = make_ld_client(sink, max_pending=100_000, send_events=args.memory_send_events)
    try:
        ai_client = LDAIClient(ld_client)
        provider = TracerProvider()
        emitted = collections.Counter()
        processor = LDAISpanProcessor(ld_client, on_emitted=lambda run_id, key, role, summary: emitted.update([role]))
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")
        user = Context.create("user-memory")
        config = ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        print(json.dumps(per_open_run(processor, provider, config, user, min(2000, max(args.memory_runs // 10, 10)))))
        emitted.clear()  # the checkpoints below count the main loop's runs only
        runs, spans_per_run, leak_every = args.memory_runs, args.memory_spans_per_run, args.leak_every
        checkpoint = max(runs // 20, 1)
        spans = 0
        gc.collect()
        print(json.dumps({"runs": 0, "spans": 0, "rss_mb": round(rss_mb(), 1)}), flush=True)
        start = time.perf_counter()
        for i in range(runs):
            with ai_run(config, user, tracer_provider=provider, new_trace=True):
                spans += 1
                leak = leak_every and i % leak_every == 0
                inner = spans_per_run - 1
                for k in range(inner):
                    if k % 3 == 0:
                        span = tracer.start_span("chat gpt-test", attributes=CHAT_START)
                        if leak and k == 0:
                            del span  # an abandoned stream: its span never ends
                        else:
                            span.set_attributes(USAGE[0])
                            span.end()
                    elif k % 3 == 1:
                        tracer.start_span("execute_tool search", attributes=TOOL_START).end()
                    else:
                        tracer.start_span("plain %d" % (k % 4)).end()
                    spans += 1
            if (i + 1) % 200 == 0:
                ld_client.flush()
            if (i + 1) % checkpoint == 0:
                gc.collect()
                table = processor._table  # benchmark introspection of RunTable bounds
                print(
                    json.dumps(
                        {
                            "runs": i + 1,
                            "spans": spans,
                            "rss_mb": round(rss_mb(), 1),
                            "open_runs": table.open_runs,
                            "carried": table.carried_segments,
                            "tracked_spans": table.tracked_spans,
                            "remembered": table.remembered_runs,
                            "pending_spans": getattr(table, "pending_spans", 0),
                            "elapsed_s": round(time.perf_counter() - start, 1),
                        }
                    ),
                    flush=True,
                )
        if args.memory_send_events:
            deliver(ld_client, sink, processor)
        else:
            processor.force_flush()
        print(
            json.dumps(
                {
                    "final": True,
                    "rss_mb": round(rss_mb(), 1),
                    "open_runs": processor.open_runs,
                    "tracked_spans": processor.tracked_spans,
                    "segments_emitted": dict(emitted),
                    "duration_events_at_sink": sink.counts().get("$ld:ai:duration:total", 0),
                }
            ),
            flush=True,
        )
        provider.shutdown()
    finally:
        ld_client.close()
        sink.close()


def per_open_run(processor: LDAISpanProcessor, provider: TracerProvider, config, user, n: int) -> dict:
    """Memory ldai-otel holds per open run: ``n`` runs whose model span is still open.

    tracemalloc counts what was allocated from ldai-otel's own code and is
    still alive (the run table's segment, binding, run facts, membership
    entries); the spans themselves are the SDK's and would exist without us,
    so they are also shown apart: RSS per open run with the spans included.
    """
    import tracemalloc

    tracer = provider.get_tracer("bench-open")
    gc.collect()
    rss0 = rss_mb()
    tracemalloc.start()
    snap0 = tracemalloc.take_snapshot()
    spans = []
    for _ in range(n):
        with ai_run(config, user, tracer_provider=provider, new_trace=True):
            spans.append(tracer.start_span("chat gpt-test", attributes=CHAT_START))
    gc.collect()
    snap1 = tracemalloc.take_snapshot()
    rss1 = rss_mb()
    ours_filter = [tracemalloc.Filter(True, "*ldai_otel*")]
    ours = sum(
        d.size_diff for d in snap1.filter_traces(ours_filter).compare_to(snap0.filter_traces(ours_filter), "filename")
    )
    total = sum(d.size_diff for d in snap1.compare_to(snap0, "filename"))
    tracemalloc.stop()
    open_runs = processor.open_runs
    for span in spans:
        span.set_attributes(USAGE[0])
        span.end()
    processor.force_flush()
    return {
        "open_runs": open_runs,
        "ldai_otel_bytes_per_open_run": round(ours / n),
        "all_python_bytes_per_open_run": round(total / n),
        "rss_bytes_per_open_run": round((rss1 - rss0) * 1024 * 1024 / n),
    }


def part_memory(args: argparse.Namespace) -> list[dict]:
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--memory-child",
        "--memory-runs",
        str(args.memory_runs),
        "--memory-spans-per-run",
        str(args.memory_spans_per_run),
        "--leak-every",
        str(args.leak_every),
    ] + (["--memory-send-events"] if args.memory_send_events else [])
    rows = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            row = json.loads(line)
            rows.append(row)
            print("  memory: %s" % json.dumps(row), flush=True)
        child.wait()
    return rows


# --------------------------------------------------------------------------
# Breakdown of the GenAI-heavy app-thread cost
# --------------------------------------------------------------------------


def part_breakdown(ld_client: LDClient, sink: SinkProcess, args: argparse.Namespace) -> dict:
    """Where the added app-thread time goes, by adding one piece at a time.

    Variants on the GenAI-heavy request: "span" adds only a span around the
    request's model work (what ``ai_run`` must start: the run's span, a
    context attach); "span+config" also reads the config as ``ai_run`` does
    (``create_tracker()`` and decoding its resumption token); "ai_run" is the
    real scope on a provider without our processor (adds the run's own token
    and signed baggage); "ldai" adds the processor (run membership, stamping
    every run span, closing the segment; emission is on another thread).
    """
    import base64

    workload = GenAIWorkload.create(ld_client)
    processor, bare = workload.processor, workload.bare
    tracer = workload.bare_tracer

    def with_span(i: int) -> None:
        user = workload.users[i % 64]
        workload.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with tracer.start_as_current_span("handle request"):
            with tracer.start_as_current_span("ai_run " + CONFIG_KEY):
                genai_spans(tracer)

    def with_span_and_config(i: int) -> None:
        user = workload.users[i % 64]
        config = workload.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        token = config.create_tracker().resumption_token
        json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        with tracer.start_as_current_span("handle request"):
            with tracer.start_as_current_span("ai_run " + CONFIG_KEY):
                genai_spans(tracer)

    def scope_only(i: int) -> None:
        user = workload.users[i % 64]
        config = workload.ai_client.completion_config(CONFIG_KEY, user, DEFAULT_CONFIG)
        with tracer.start_as_current_span("handle request"):
            with ai_run(config, user, tracer_provider=bare):
                genai_spans(tracer)

    # None of these variants emits run events, so they can alternate every
    # few requests (same machine load for all); "hand" and "ldai" come from
    # the GenAI-heavy part, where background work is measured in isolation.
    variants = {"base": workload.base, "span": with_span, "span+config": with_span_and_config, "ai_run": scope_only}
    samples = finely_interleaved(variants, args.genai_requests * 2, args.breakdown_reps, block=20)
    deliver(ld_client, sink, processor)
    result = {
        name: per_rep(samples, lambda v, b: v - b, name, "base", attr="thread_us")
        for name in variants
        if name != "base"
    }
    processor.shutdown()
    workload.shutdown()
    return result


# --------------------------------------------------------------------------
# Profile of the app's thread
# --------------------------------------------------------------------------


def part_profile(ld_client: LDClient, sink: SinkProcess, args: argparse.Namespace) -> None:
    import cProfile
    import pstats

    workload = GenAIWorkload.create(ld_client)
    processor = workload.processor
    for i in range(200):
        workload.ours(i)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(args.genai_requests):
        workload.ours(i)
    profiler.disable()
    deliver(ld_client, sink, processor)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(30)
    processor.shutdown()


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def report(non_genai: dict | None, genai: dict | None, resumed: dict | None, args: argparse.Namespace) -> None:
    print()
    print(
        "ldai-otel benchmark  (python %s, %d CPUs, %d reps, median [IQR] (min..max))"
        % (sys.version.split()[0], os.cpu_count() or 0, args.reps)
    )
    if non_genai is not None:
        print()
        print(
            "non-GenAI workload: %d HTTP-like requests x %d spans per rep, %d reps"
            % (args.http_requests, HTTP_SPANS_PER_REQUEST, non_genai["reps"])
        )
        for attr, label in (("wall_us", "wall"), ("thread_us", "thread CPU")):
            r = non_genai[attr]
            print("  [%s]" % label)
            print("  bare span cost                  %s us/span" % r["bare_us_per_span"].format("%.2f"))
            print("  ldai / bare                     %s   target <= 1.03" % r["ratio_ldai_vs_bare"].format())
            print("  noop / bare                     %s" % r["ratio_noop_vs_bare"].format())
            print("  ldai overhead per span          %s us" % r["ldai_overhead_us_per_span"].format("%.2f"))
            print("  no-op processor per span        %s us" % r["noop_overhead_us_per_span"].format("%.2f"))
            print(
                "  ldai - no-op per span           %s us   target <= 1.0"
                % r["ldai_minus_noop_us_per_span"].format("%.2f")
            )
            print(
                "  lookup / bare                   %s   (one context lookup and return)"
                % r["ratio_lookup_vs_bare"].format()
            )
            print(
                "  floor / bare                    %s   (the checks any correct processor makes)"
                % r["ratio_floor_vs_bare"].format()
            )
            print("  ldai / floor                    %s" % r["ratio_ldai_vs_floor"].format())
            print("  ldai - floor per span           %s us" % r["ldai_minus_floor_us_per_span"].format("%.2f"))
        hooks = non_genai["hooks"]
        print("  [hooks alone, span outside any run, thread CPU per call]")
        for name in ("ldai", "noop"):
            print(
                "  %-4s on_start %s us   on_end %s us"
                % (name, hooks[name + "_on_start_us"].format("%.2f"), hooks[name + "_on_end_us"].format("%.2f"))
            )
    if genai is not None:
        r = genai
        print()
        print(
            "GenAI-heavy workload: %d requests per rep (ai_run + 2 chat + 1 tool + 3 plain spans)" % args.genai_requests
        )
        print("  [app thread: thread CPU of the request loop; the variants alternate every 20 requests]")
        print("  base request                     %s us" % r["base_thread_us"].format("%.1f"))
        print("  hand-written tracking, added     %s us" % r["hand_added_thread_us"].format("%.1f"))
        print("  ai_run + LDAISpanProcessor, added %s us" % r["ldai_added_thread_us"].format("%.1f"))
        print("  contract floor, added            %s us" % r["floor_added_thread_us"].format("%.1f"))
        print("  ai_run alone (no processor), added %s us" % r["scope_added_thread_us"].format("%.1f"))
        print("  one span with ai_run's attributes %s us" % r["runspan_added_thread_us"].format("%.1f"))
        print("  ldai / hand                      %s   target <= 1.0" % r["thread_ratio"].format())
        print(
            "  floor / hand                     %s   (the least the run contract costs)"
            % r["floor_thread_ratio"].format()
        )
        print("  ldai / floor                     %s" % r["ldai_vs_floor_thread"].format())
        print("  [total CPU: process CPU until the events are at the sink; each variant alone]")
        print("  base request                     %s us" % r["base_cpu_us"].format("%.1f"))
        print("  hand-written tracking, added     %s us" % r["hand_added_cpu_us"].format("%.1f"))
        print("  ai_run + LDAISpanProcessor, added %s us" % r["ldai_added_cpu_us"].format("%.1f"))
        print("  floor + hand's events, added     %s us" % r["floor_events_added_cpu_us"].format("%.1f"))
        print("  ldai / hand                      %s   target <= 1.6" % r["cpu_ratio"].format())
        print(
            "  floor+events / hand              %s   (the least the run contract costs)"
            % r["floor_events_cpu_ratio"].format()
        )
        print("  ldai / floor+events              %s" % r["ldai_vs_floor_events_cpu"].format())
        print("  [contract floor: create_tracker() for the variation, the run's span started with its")
        print("   attributes, the four ld.ai_config.* attributes stamped on GenAI spans at start;")
        print("   + events: the same LaunchDarkly events as hand-written tracking]")
        expected = 5 * r["requests"]  # one event per key per request: see part_genai
        complete = all(r["delivered"].get(key, 0) == expected for key in AI_RUN_KEYS)
        print(
            "  events at the sink              %s (%s: %d per key expected)"
            % (
                json.dumps({k: r["delivered"].get(k, 0) for k in AI_RUN_KEYS}),
                "complete" if complete else "MISMATCH",
                expected,
            )
        )
    if resumed is not None:
        r = resumed
        print()
        print(
            "resumed run: %d downstream requests per rep (server span from W3C headers + chat + plain span)"
            % args.resumed_requests
        )
        print("  plain request (no run), thread  %s us" % r["plain_thread_us"].format("%.1f"))
        print(
            "  cached token: added thread CPU  %s us   ratio %s"
            % (r["cached_added_thread_us"].format("%.1f"), r["cached_thread_ratio"].format())
        )
        print(
            "  fresh token: added thread CPU   %s us   ratio %s"
            % (r["uncached_added_thread_us"].format("%.1f"), r["uncached_thread_ratio"].format())
        )
        print("  cached token: added total CPU   %s us" % r["cached_added_cpu_us"].format("%.1f"))
        print("  fresh token: added total CPU    %s us" % r["uncached_added_cpu_us"].format("%.1f"))
        print(
            "  resumed segments emitted        %d tokens events for %d resumed requests"
            % (r["resumed_token_events"], r["resumed_requests"])
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=25, help="GenAI-heavy repetitions (after one warm-up)")
    parser.add_argument("--http-requests", type=int, default=2000, help="non-GenAI requests per variant per rep")
    parser.add_argument("--http-reps", type=int, default=21, help="repetitions of the non-GenAI part")
    parser.add_argument("--hook-calls", type=int, default=200_000, help="calls per timing of the hooks alone")
    parser.add_argument("--genai-requests", type=int, default=400, help="GenAI requests per variant per rep")
    parser.add_argument("--resumed-requests", type=int, default=400, help="downstream requests per variant per rep")
    parser.add_argument("--resumed-reps", type=int, default=15)
    parser.add_argument(
        "--only",
        choices=("http", "genai", "resumed", "openai"),
        action="append",
        help="run only these timed parts (repeatable)",
    )
    parser.add_argument("--memory", action="store_true", help="also run the memory part (in a child process)")
    parser.add_argument("--openai-calls", type=int, default=200, help="instrumented OpenAI calls per variant per rep")
    parser.add_argument("--openai-reps", type=int, default=11, help="repetitions of the OpenAI-call part")
    parser.add_argument("--memory-runs", type=int, default=100_000)
    parser.add_argument("--memory-spans-per-run", type=int, default=10)
    parser.add_argument(
        "--memory-send-events",
        action="store_true",
        help="memory part: the LaunchDarkly client sends events to the sink too",
    )
    parser.add_argument(
        "--leak-every", type=int, default=4, help="every Nth run leaves one model span open forever (0: none)"
    )
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the GenAI-heavy app thread")
    parser.add_argument("--breakdown", action="store_true", help="also break the GenAI-heavy app-thread cost down")
    parser.add_argument("--breakdown-reps", type=int, default=15)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args)
        return 0
    parts = set(args.only or ("http", "genai", "resumed", "openai"))
    sink = SinkProcess()
    ld_client = make_ld_client(sink)
    non_genai = genai = resumed = breakdown = openai_call = None
    try:
        if "http" in parts:
            non_genai = part_non_genai(ld_client, args)
        if "genai" in parts:
            genai = part_genai(ld_client, sink, args)
        if "resumed" in parts:
            resumed = part_resumed(ld_client, sink, args)
        if "openai" in parts:
            openai_call = part_openai(ld_client, sink, args)
        if args.breakdown:
            breakdown = part_breakdown(ld_client, sink, args)
        if args.profile:
            part_profile(ld_client, sink, args)
    finally:
        ld_client.close()
        sink.close()
    report(non_genai, genai, resumed, args)
    report_openai(openai_call, args, "openai" in parts)
    if breakdown is not None:
        print()
        print("GenAI-heavy app-thread breakdown: thread CPU added over the base request, %d reps" % args.breakdown_reps)
        labels = {
            "span": "one more span around the model work (what ai_run starts)",
            "span+config": "+ reading the config (create_tracker, decode its token)",
            "ai_run": "ai_run itself (+ run token, signed baggage), no processor",
        }
        for name, label in labels.items():
            print("  %-62s %s us" % (label, breakdown[name].format("%.1f")))
        if genai is not None:
            print(
                "  %-62s %s us"
                % ("hand-written ldai tracking (GenAI-heavy part)", genai["hand_added_thread_us"].format("%.1f"))
            )
            print(
                "  %-62s %s us"
                % ("ai_run + LDAISpanProcessor (GenAI-heavy part)", genai["ldai_added_thread_us"].format("%.1f"))
            )
    if args.memory:
        print()
        print(
            "memory: %d runs x %d spans, every %dth run leaves a model span open forever (child process)"
            % (args.memory_runs, args.memory_spans_per_run, args.leak_every)
        )
        memory = part_memory(args)
    else:
        memory = None
    report_targets(non_genai, genai, resumed, openai_call, memory)
    return 0


def report_openai(r: dict | None, args: argparse.Namespace, asked: bool) -> None:
    if r is None:
        if asked:
            print()
            print("one instrumented OpenAI call: skipped (pip install -e . --group bench, for openai and openai-v2)")
        return
    print()
    print(
        "one instrumented OpenAI call (openai-v2, real openai client, loopback stub): %d calls per variant per rep"
        % args.openai_calls
    )
    print(
        "  the call, app thread             %s us (wall %s us)"
        % (r["call_thread_us"].format("%.1f"), r["call_wall_us"].format("%.1f"))
    )
    print("  hand-written tracking, added     %s us" % r["hand_added_thread_us"].format("%.1f"))
    print("  ai_run + LDAISpanProcessor, added %s us" % r["ldai_added_thread_us"].format("%.1f"))
    print("  hand / call                      %s" % r["hand_share"].format())
    print("  ldai / call                      %s   (app thread)" % r["ldai_share"].format())
    print("  ldai / call, wall                %s" % r["ldai_share_wall"].format())
    print("  token events at the sink         %d for %d tracked calls" % (r["token_events"], r["requests"]))


def report_targets(
    non_genai: dict | None, genai: dict | None, resumed: dict | None, openai_call: dict | None, memory: list | None
) -> None:
    """Every issue-14 target, as measured in this run."""
    print()
    print("targets (ratios from this run; spread: bootstrap IQR and 95%, or IQR (min..max))")
    if genai is not None:
        print("  GenAI-heavy app thread, ldai / hand          %s   target <= 1.0" % genai["thread_ratio"].format())
        print("  GenAI-heavy total CPU, ldai / hand           %s   target <= 1.6" % genai["cpu_ratio"].format())
        print("  ai_run alone (no processor) / hand           %s   target <= 0.5" % genai["scope_ratio"].format())
        print("    its floor: one span with ai_run's 6 attributes / hand %s" % genai["runspan_ratio"].format())
    if resumed is not None:
        print(
            "  resumed downstream, added / plain request    %s   target <= 0.35 (cached token)"
            % resumed["cached_added_ratio"].format()
        )
        print("    fresh token every request                  %s" % resumed["uncached_added_ratio"].format())
    if non_genai is not None:
        print(
            "  non-GenAI, ldai - floor per span (thread)    %s us   target <= 0.2"
            % non_genai["thread_us"]["ldai_minus_floor_us_per_span"].format("%.2f")
        )
    if openai_call is not None:
        print("  one OpenAI call, ldai added / the call       %s" % openai_call["ldai_share"].format())
        print("    hand-written added / the call              %s" % openai_call["hand_share"].format())
    if memory:
        open_row = next((row for row in memory if "ldai_otel_bytes_per_open_run" in row), None)
        if open_row is not None:
            print(
                "  memory per open run (ldai-otel's own)        %.2f KB   target <= 2 KB (all Python %.2f, RSS %.2f)"
                % (
                    open_row["ldai_otel_bytes_per_open_run"] / 1024,
                    open_row["all_python_bytes_per_open_run"] / 1024,
                    open_row["rss_bytes_per_open_run"] / 1024,
                )
            )
        points = [row for row in memory if "runs" in row and row.get("open_runs") is not None]
        # The bounds: max_open_runs open and as many carried segments (the defaults).
        bounded = [row for row in points if row["open_runs"] >= 9_999 and row.get("carried", 0) >= 9_999]
        if len(bounded) >= 2:
            print(
                "  RSS after the bounds were reached            %.1f MB at %d runs -> %.1f MB at %d runs   target flat"
                % (bounded[0]["rss_mb"], bounded[0]["runs"], bounded[-1]["rss_mb"], bounded[-1]["runs"])
            )


if __name__ == "__main__":
    sys.exit(main())
