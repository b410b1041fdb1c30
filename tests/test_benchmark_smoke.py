"""The benchmark script keeps working: a tiny run completes and every run's events arrive.

Nothing here is timed; the figures the script prints are not asserted on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def test_a_tiny_benchmark_run_completes_with_every_event_delivered():
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--reps",
            "1",
            "--genai-requests",
            "20",
            "--http-reps",
            "1",
            "--http-requests",
            "50",
            "--hook-calls",
            "1000",
            "--resumed-reps",
            "1",
            "--resumed-requests",
            "10",
            "--breakdown",
            "--breakdown-reps",
            "1",
            "--memory",
            "--memory-runs",
            "200",
            "--openai-calls",
            "10",
            "--openai-reps",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "non-GenAI workload" in out and "ldai - no-op per span" in out
    assert "floor / bare" in out and "ldai - floor per span" in out
    # (1 + 1 warm-up) reps x 20 requests x 5: "hand" and "ldai" in both the
    # app-thread and the total-CPU parts, "floor+events" in the latter.
    assert "(complete: 200 per key expected)" in out
    # The run-model floor closed every run it saw: 2 reps x 20 requests.
    assert "run-model floor / hand" in out and "(40 runs closed)" in out
    assert "resumed segments emitted        40 tokens events for 40 resumed requests" in out
    assert "GenAI-heavy app-thread breakdown" in out
    # With the `bench` dependency group the OpenAI-call part runs and its events arrive; without, it says so.
    assert (
        "one instrumented OpenAI call (openai-v2" in out and "token events at the sink         40 for 40" in out
    ) or "one instrumented OpenAI call: skipped" in out
    targets = out[out.index("targets (ratios from this run") :]
    for line in (
        "ldai / hand",
        "ai_run alone (no processor) / hand",
        "the run model's floor / hand",
        "added / plain request",
        "ldai - floor per span",
        "non-GenAI thread CPU, ldai / bare",
    ):
        assert line in targets
    assert "memory per open run (ldai-otel's own)" in targets
    assert '"final": true' in out and '"open_runs": 0' in out and '"origin": 200' in out
