"""The web-service benchmark keeps working: a tiny run completes and every request's events arrive.

Nothing here is timed; the figures the script prints are not asserted on.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

WEB_BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "web_bench.py"
NEEDS = ("openai", "opentelemetry.instrumentation.openai_v2", "starlette", "uvicorn")


@pytest.mark.skipif(sys.platform != "linux", reason="reads app CPU time from /proc")
def test_a_tiny_web_benchmark_run_completes_with_every_event_at_the_sink():
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    assert not missing, "install the bench dependency group: missing %s" % missing
    result = subprocess.run(
        [sys.executable, str(WEB_BENCH), "--rounds", "2", "--seconds", "0.5", "--warmup", "0.3", "--connections", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "web-service workload" in out
    for variant in ("none", "otel", "hand", "floor", "ldai"):
        assert re.search(r"^  %s +\d" % variant, out, re.M), variant
    assert "app CPU per request, ldai / hand" in out and "p99 latency, ldai / hand" in out
    assert "app CPU per request, floor / hand" in out and "app CPU per request, ldai / floor" in out
    for variant in ("hand", "floor", "ldai"):
        found = re.search(
            r"events at the sink \(%s\)  (\d+) token and (\d+) success events for (\d+) requests" % variant, out
        )
        assert found, variant
        tokens, success, served = map(int, found.groups())
        assert tokens == success == served > 0
    assert '"ldai": 0' in out and '"hand": 0' in out and '"floor": 0' in out
