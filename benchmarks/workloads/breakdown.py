"""Where the GenAI-heavy app-thread time goes (``--breakdown``), and its profile (``--profile``)."""

from __future__ import annotations

import argparse
import json
import sys

from bench_common import (
    CONFIG_KEY,
    DEFAULT_CONFIG,
    SinkProcess,
    deliver,
    finely_interleaved,
    per_rep,
)
from ldclient import LDClient

from ldai_otel import ai_run
from workloads.genai import GenAIWorkload, genai_spans


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


def report_breakdown(breakdown: dict, genai: dict | None, args: argparse.Namespace) -> None:
    """Prints the breakdown, next to the GenAI-heavy part's hand-written and ldai figures when it ran."""
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
