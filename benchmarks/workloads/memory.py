"""The memory workload (``--memory``): RSS and the run table while 1,000,000 spans over 100,000 runs go through.

It runs in a fresh child process (``bench.py --memory-child``), a share of the runs with model
spans that never end, and prints one JSON line per checkpoint.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import logging
import os
import subprocess
import sys
import time

from bench_common import (
    CHAT_START,
    CONFIG_KEY,
    DEFAULT_CONFIG,
    HERE,
    TOOL_START,
    USAGE,
    SinkProcess,
    deliver,
    make_ld_client,
)
from ldai import LDAIClient
from ldclient import Context
from opentelemetry.sdk.trace import TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run


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
        os.path.join(HERE, "bench.py"),  # the entry point; it runs memory_child
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
