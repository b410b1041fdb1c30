"""The non-GenAI workload: HTTP-like spans (3 per request) outside any run.

A bare ``TracerProvider`` ("bare"), the same with a no-op ``SpanProcessor`` ("noop"), with one
that does one context lookup and returns ("lookup"), with one that makes only the checks any
correct processor must make for a span outside any run ("floor"), and with
``LDAISpanProcessor`` ("ldai"), alternating every 50 requests; and the hooks alone, on one
real span.
"""

from __future__ import annotations

import argparse
import time

from bench_common import MARKER_KEY, NON_GENAI_TARGET, Spread, finely_interleaved, per_rep, ratio
from ldclient import LDClient
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from ldai_otel import LDAISpanProcessor
from ldai_otel.processor import _BAGGAGE_CONTEXT_KEY  # the context key W3C baggage lives under

_get_current = otel_context.get_current


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


def report_non_genai(non_genai: dict, args: argparse.Namespace) -> None:
    """Prints the non-GenAI part's figures."""
    print()
    print(
        "non-GenAI workload: %d HTTP-like requests x %d spans per rep, %d reps"
        % (args.http_requests, HTTP_SPANS_PER_REQUEST, non_genai["reps"])
    )
    for attr, label in (("wall_us", "wall"), ("thread_us", "thread CPU")):
        r = non_genai[attr]
        print("  [%s]" % label)
        print("  bare span cost                  %s us/span" % r["bare_us_per_span"].format("%.2f"))
        print(
            "  ldai / bare                     %s   target <= %g" % (r["ratio_ldai_vs_bare"].format(), NON_GENAI_TARGET)
        )
        print("  noop / bare                     %s" % r["ratio_noop_vs_bare"].format())
        print("  ldai overhead per span          %s us" % r["ldai_overhead_us_per_span"].format("%.2f"))
        print("  no-op processor per span        %s us" % r["noop_overhead_us_per_span"].format("%.2f"))
        print(
            "  ldai - no-op per span           %s us   target <= 1.0" % r["ldai_minus_noop_us_per_span"].format("%.2f")
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
