"""The resumed-run workload: the cost per downstream request of resuming a run from baggage."""

from __future__ import annotations

import argparse
import importlib.util
import itertools

from bench_common import (
    CHAT_START,
    CONFIG_KEY,
    DEFAULT_CONFIG,
    USAGE,
    AddedRatio,
    SinkProcess,
    deliver,
    interleaved,
    per_rep,
    ratio,
)
from ldai import LDAIClient
from ldclient import Context, LDClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from ldai_otel import LDAISpanProcessor, ai_run


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


def report_resumed(resumed: dict, args: argparse.Namespace) -> None:
    """Prints the resumed-run part's figures."""
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
