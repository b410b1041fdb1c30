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
    assert out.count("run: ") == 5  # four AI Config runs and one agent-graph run
    assert "  path         triage-agent -> billing-specialist\n" in out
    assert "  node billing-specialist  tokens 490, tool calls lookup_invoice, success\n" in out
    assert "tool calls   get_weather" in out
    assert re.search(r"first token  \d+ ms", out)
    assert "outcome      error" in out
    assert "tokens       input 120, output 48, total 168" in out
    run_ids = re.findall(r"runId        ([0-9a-f-]{36})", out)
    trace_ids = re.findall(r"trace id     ([0-9a-f]{32})", out)
    assert [r.replace("-", "") for r in run_ids] == trace_ids
