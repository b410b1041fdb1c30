"""One instrumented OpenAI call (openai-v2 + the real openai client, loopback stub): the overhead as its share."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import time

from bench_common import (
    CONFIG_KEY,
    DEFAULT_CONFIG,
    HERE,
    AddedRatio,
    SinkProcess,
    deliver,
    finely_interleaved,
    per_rep,
)
from ldai import LDAIClient
from ldai.tracker import TokenUsage
from ldclient import Context, LDClient
from opentelemetry.sdk.trace import TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run


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
