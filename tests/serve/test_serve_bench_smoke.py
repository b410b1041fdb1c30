"""``benchmarks/serve_bench.py`` keeps working: a tiny run completes every part.

Nothing here is timed; the figures the script prints are not asserted on, only
that every part ran and that serve took every request (none refused).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_bench.py"


def test_a_tiny_serve_benchmark_run_completes_every_part():
    argv = [sys.executable, str(BENCH), "--spans", "2048", "--reps", "1", "--held-spans", "1024"]
    argv += ["--fixed-seconds", "1", "--fixed-rate", "2048", "--no-taskset", "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for prefix in ("workload:", "decode-only:", "grpc:", "http:", "bytes held per buffered span:", "fixed rate:"):
        assert any(line.startswith(prefix) for line in lines), (prefix, result.stdout)
    figures = json.loads(lines[-1])
    assert [r["refused"] for r in figures["grpc"] + figures["http"]] == [0, 0]
    # Every run of each repetition reached the sink (through serve's real LaunchDarkly client).
    assert figures["grpc"][0]["delivered"] == figures["http"][0]["delivered"] == figures["runs"]
    assert figures["fixed"]["spans"] >= 512 and figures["fixed"]["held"] > 0
