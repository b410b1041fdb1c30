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
  contract requires on the app's thread, docs/design.md), "runfloor" (the same plus the span
  membership the run model needs of any processor: recorded at start, removed at end, under
  a lock) and "floor+events" (the floor plus hand-written tracking's events). The config is evaluated in every variant,
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

Everything binds 127.0.0.1 only. This script is the entry point; each workload is a module of
``workloads/`` and what they share is in ``bench_common.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bench_common import GENAI_CPU_TARGET, GENAI_THREAD_TARGET, NON_GENAI_TARGET, SinkProcess, make_ld_client
from workloads.breakdown import part_breakdown, part_profile, report_breakdown
from workloads.genai import part_genai, report_genai
from workloads.memory import memory_child, part_memory
from workloads.non_genai import part_non_genai, report_non_genai
from workloads.openai_call import part_openai, report_openai
from workloads.resumed import part_resumed, report_resumed


def report(non_genai: dict | None, genai: dict | None, resumed: dict | None, args: argparse.Namespace) -> None:
    print()
    print(
        "ldai-otel benchmark  (python %s, %d CPUs, %d reps, median [IQR] (min..max))"
        % (sys.version.split()[0], os.cpu_count() or 0, args.reps)
    )
    if non_genai is not None:
        report_non_genai(non_genai, args)
    if genai is not None:
        report_genai(genai, args)
    if resumed is not None:
        report_resumed(resumed, args)


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
        report_breakdown(breakdown, genai, args)
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


def report_targets(
    non_genai: dict | None, genai: dict | None, resumed: dict | None, openai_call: dict | None, memory: list | None
) -> None:
    """The performance targets, as measured in this run.

    The app-thread ones are the current ones (the app thread no dearer than hand-written
    tracking: GenAI added cost <= 1.2x, ``ai_run`` alone <= 0.6x, non-GenAI spans <= 1.05x a bare
    provider); total CPU, resumed runs and memory keep their earlier targets.
    """
    print()
    print("targets (ratios from this run; spread: bootstrap IQR and 95%, or IQR (min..max))")
    if genai is not None:
        print(
            "  GenAI-heavy app thread, ldai / hand          %s   target <= %g"
            % (genai["thread_ratio"].format(), GENAI_THREAD_TARGET)
        )
        print("    the run model's floor / hand               %s" % genai["runfloor_thread_ratio"].format())
        print(
            "  GenAI-heavy total CPU, ldai / hand           %s   target <= %g"
            % (genai["cpu_ratio"].format(), GENAI_CPU_TARGET)
        )
        print("  ai_run alone (no processor) / hand           %s   target <= 0.6" % genai["scope_ratio"].format())
        print("    its floor: one span with ai_run's 6 attributes / hand %s" % genai["runspan_ratio"].format())
    if resumed is not None:
        print(
            "  resumed downstream, added / plain request    %s   target <= 0.35 (cached token)"
            % resumed["cached_added_ratio"].format()
        )
        print("    fresh token every request                  %s" % resumed["uncached_added_ratio"].format())
    if non_genai is not None:
        print(
            "  non-GenAI thread CPU, ldai / bare            %s   target <= %g"
            % (non_genai["thread_us"]["ratio_ldai_vs_bare"].format(), NON_GENAI_TARGET)
        )
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
