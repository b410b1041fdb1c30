"""``benchmarks/collector_filter_bench.py`` keeps working: a tiny run of both variants completes.

Nothing here is timed: only that both variants ran through the real Collector and
that the filter sent serve exactly the spans of the traces that hold a run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from otelcol import REPO, collector_binary

BENCH = REPO / "benchmarks" / "collector_filter_bench.py"


def test_a_tiny_filter_benchmark_run_completes_both_variants():
    env = {**os.environ, "LDAI_OTEL_COLLECTOR_BIN": collector_binary()}
    argv = [sys.executable, str(BENCH), "--spans", "2048", "--reps", "1", "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for prefix in ("workload:", "no filter:", "filter:", "serve CPU per run, filter / no filter:"):
        assert any(line.startswith(prefix) for line in lines), (prefix, result.stdout)
    figures = json.loads(lines[-1])
    assert figures["no_filter"][0]["received"] == figures["spans"]
    assert figures["filter"][0]["received"] == figures["runs"] * 8  # the runs' traces, whole; nothing else
