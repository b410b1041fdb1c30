"""serve's CPU per run behind a real Collector, with and without the ``tail_sampling`` filter.

Run from the repository root, after ``bash scripts/collector`` (a minute or two)::

    python benchmarks/collector_filter_bench.py
    python benchmarks/collector_filter_bench.py --spans 200000 --reps 5

The workload is serve_bench.py's: traces of 8 spans, 40% of them runs, 512-span
requests, sent over OTLP/gRPC to the Collector running
examples/collector/collector-tail-sampling.yaml (receiver moved to loopback, the
tracing backend's pipeline to the ``debug`` exporter). "filter": serve's pipeline
as published, ``tail_sampling`` keeping the traces that carry
``ld.ai_config.key``; "no filter": the same pipeline without it (every trace to
serve). serve runs pinned to CPU 0 (``taskset``), a real LaunchDarkly client
inside it sending to the out-of-process sink of _sink.py. Figures: serve's CPU
time (user + system, from /proc) from the first request until every run was
emitted, over the runs; and the Collector's CPU over the same interval. Medians
of ``--reps`` fresh pairs of processes, (min..max).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from serve_bench import BATCH, Serve, build_requests, send_all, spread  # noqa: E402

CONFIG = os.path.join(REPO, "examples", "collector", "collector-tail-sampling.yaml")


def cpu_s(pid: int) -> float:
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    """The Collector on the filter configuration, its receiver and health check on loopback."""

    def __init__(self, binary: str, serve_grpc: str, filtered: bool, log: str):
        self.grpc_port, health = free_port(), free_port()
        sets = [
            "receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d" % self.grpc_port,
            "receivers::otlp::protocols::http::endpoint=127.0.0.1:%d" % free_port(),
            "extensions::health_check::endpoint=127.0.0.1:%d" % health,
            "service::extensions=[health_check]",
            "service::telemetry::metrics::level=none",
            "exporters::otlp_grpc/ldai::endpoint=%s" % serve_grpc,
            "exporters::debug::verbosity=basic",
            "service::pipelines::traces/backend::exporters=[debug]",
            "processors::tail_sampling/ldai-runs::decision_wait=1s",
        ]
        if not filtered:
            sets.append("service::pipelines::traces/ldai::processors=[batch]")
        argv = [binary, "--config", CONFIG, *("--set=%s" % s for s in sets)]
        with open(log, "w") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self._healthy(health):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Collector did not start: see %s" % log)
            time.sleep(0.1)

    @staticmethod
    def _healthy(port: int) -> bool:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def one(binary: str, sink_uri: str, requests: list[bytes], runs: int, filtered: bool, tmp: str) -> dict:
    serve = Serve(sink_uri, "--decision-wait", "1", "--retention", "5")
    collector = Collector(binary, serve.grpc, filtered, os.path.join(tmp, "otelcol.log"))
    try:
        import grpc

        channel = grpc.insecure_channel("127.0.0.1:%d" % collector.grpc_port)
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        serve0, col0 = serve.cpu_s(), cpu_s(collector.proc.pid)
        send_all(lambda body: export(body, timeout=60), requests, 2)
        deadline = time.monotonic() + 600
        while serve.metrics().get("ldai_otel_serve_runs_emitted_total", 0) < runs:
            if time.monotonic() > deadline:
                raise RuntimeError("not every run was emitted")
            time.sleep(0.1)
        serve_cpu, col_cpu = serve.cpu_s() - serve0, cpu_s(collector.proc.pid) - col0
        received = serve.metrics()["ldai_otel_serve_spans_received_total"]
        channel.close()
    finally:
        collector.stop()
        serve.stop()
    return {"serve_cpu": serve_cpu, "collector_cpu": col_cpu, "received": received}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spans", type=int, default=100_000, help="spans per repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)
    binary = (
        os.environ.get("LDAI_OTEL_COLLECTOR_BIN")
        or subprocess.run(
            ["bash", os.path.join(REPO, "scripts", "collector")], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    requests, runs = build_requests(args.spans)
    spans = len(requests) * BATCH
    print(
        "workload: %d spans in %d requests, %d runs (traces of 8 spans, 40%% runs); serve %s; load %s"
        % (
            spans,
            len(requests),
            runs,
            "pinned to CPU 0" if shutil.which("taskset") else "not pinned",
            "%.1f %.1f %.1f" % os.getloadavg(),
        )
    )
    sink = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "_sink.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    sink_uri = sink.stdout.readline().strip() if sink.stdout else ""
    results: dict[bool, list[dict]] = {True: [], False: []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.reps):
                for filtered in (False, True):  # alternated: the machine's load drifts alike for both
                    results[filtered].append(one(binary, sink_uri, requests, runs, filtered, tmp))
    finally:
        if sink.stdin:
            sink.stdin.close()
        sink.wait(timeout=30)
    per_run = {}
    for filtered, label in ((False, "no filter"), (True, "filter")):
        reps = results[filtered]
        per_run[filtered] = [1e6 * r["serve_cpu"] / runs for r in reps]
        print(
            "%s: serve received %s spans; serve CPU %s us per run (%s s); Collector CPU %s s"
            % (
                label,
                spread([r["received"] for r in reps]),
                spread(per_run[filtered]),
                spread([r["serve_cpu"] for r in reps], "%.2f"),
                spread([r["collector_cpu"] for r in reps], "%.2f"),
            )
        )
    ratio = statistics.median(per_run[True]) / statistics.median(per_run[False])
    print("serve CPU per run, filter / no filter: %.2f" % ratio)
    if args.json:
        print(json.dumps({"runs": runs, "spans": spans, "filter": results[True], "no_filter": results[False]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
