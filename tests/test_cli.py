"""The console script, run as a user would."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_runs_offline_and_reports_every_run():
    result = subprocess.run(
        [sys.executable, "-m", "ldai_otel.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OK: every run's events arrived at the sink." in out
    assert out.count("run: ") == 4
    assert "tool calls   get_weather" in out
    assert re.search(r"first token  \d+ ms", out)
    assert "outcome      error" in out
    assert "tokens       input 120, output 48, total 168" in out
    run_ids = re.findall(r"runId        ([0-9a-f-]{36})", out)
    trace_ids = re.findall(r"trace id     ([0-9a-f]{32})", out)
    assert [r.replace("-", "") for r in run_ids] == trace_ids
