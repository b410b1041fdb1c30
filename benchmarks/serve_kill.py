"""``ldai-otel serve`` killed as an operator's node would be: what arrives at LaunchDarkly, with and without the spool.

Run from the repository root (about two minutes per mode)::

    python benchmarks/serve_kill.py                # with --state-dir, then without
    python benchmarks/serve_kill.py --mode spool   # one mode only

Each scenario starts serve as a process on fixed loopback ports, sends runs
of 8 spans from a real ``TracerProvider`` through the real OTLP/gRPC exporter
(``BatchSpanProcessor``, every batch acknowledged), kills serve at a chosen
moment and restarts it on the same ports and flags; serve's real
``LDClient`` posts to a loopback sink (``ldai_otel.testing.LDEventSink``).
For each run the sink's ``$ld:ai:tokens:input`` events are counted: arrived
once, lost (never), duplicated (more than once). Scenarios:

1. SIGKILL 10 ms after the last acknowledgement (``--decision-wait 5``), restart.
2. SIGKILL as soon as the last 50 runs are in the LaunchDarkly client (the
   events endpoint answers after 10 s from then on), restart. (The tests also
   kill serve after a post arrived, unanswered: every such run comes twice,
   all counted as re-sent.)
3. About 200 runs/s for ``--traffic-seconds`` (20), SIGKILL and restart halfway.
4. SIGTERM after the acknowledgement, restart.
5. One run of 121 spans, ``--max-spans-per-trace 50``, the root exported last:
   how many of the 120 children's input tokens arrive.

With the spool, serve's ``spool_runs_resent`` and ``spool_resend_window_seconds``
metrics are printed too.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from serve_bench import read_metrics  # run as a script: this folder is on sys.path

from ldai_otel.testing import LDEventSink

ROOT = {"ld.ai_config.key": "chat-config", "ld.ai_config.variation_key": "v1", "ld.ai_config.version": 3}
INPUT = "$ld:ai:tokens:input"


def _chat(tracer, tokens: int) -> None:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": tokens,
        "gen_ai.usage.output_tokens": 1,
    }
    with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes):
        pass


def a_run(tracer) -> str:
    """A run of 8 spans: root, handler, two chats, a tool, three plain spans; returns its runId."""
    with tracer.start_as_current_span("agent", attributes=ROOT) as root:
        with tracer.start_as_current_span("POST /answer"):
            _chat(tracer, 10)
            with tracer.start_as_current_span("execute_tool search", attributes={"gen_ai.tool.name": "search"}):
                for _ in range(3):
                    with tracer.start_as_current_span("SELECT docs"):
                        pass
            _chat(tracer, 10)
    return str(uuid.UUID(int=root.get_span_context().trace_id))


class Serve:
    """Serve on fixed ports; ``restart`` starts it again with the same flags."""

    def __init__(self, sink: LDEventSink, state_dir: str, *flags: str):
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        self.grpc = "127.0.0.1:%d" % ports[0]
        self.http = "127.0.0.1:%d" % ports[1]
        self.argv = [sys.executable, "-m", "ldai_otel.cli", "serve", "--grpc", self.grpc, "--http", self.http]
        self.argv += ["--flush-interval", "1", *flags]
        if state_dir:
            self.argv += ["--state-dir", state_dir]
        self.env = {**os.environ, "LAUNCHDARKLY_SDK_KEY": "sdk-kill", "LAUNCHDARKLY_EVENTS_URI": sink.uri}
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self, *extra: str) -> None:
        argv = self.argv + list(extra)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "listening on" not in line:
            raise RuntimeError("serve did not start: %r" % line)

    def stop(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)
        self.proc.wait(timeout=120)
        if self.proc.stdout:
            self.proc.stdout.close()

    def metrics(self) -> dict[str, float]:
        return read_metrics(self.http)


def provider_to(endpoint: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "app"}))
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=60)
    # A queue that holds everything: a loss here would be the SDK's, not serve's.
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=200_000, schedule_delay_millis=200))
    return provider


def wait_until(condition, timeout_s: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def tally(sink: LDEventSink, run_ids: list[str]) -> tuple[int, int, int]:
    got = Counter(e["data"]["runId"] for e in sink.ai_events() if e["key"] == INPUT)
    counts = [got.get(run_id, 0) for run_id in run_ids]
    return sum(1 for n in counts if n == 1), sum(1 for n in counts if n == 0), sum(1 for n in counts if n > 1)


def finish(serve: Serve, runs: int, extra: dict) -> None:
    """Waits until the restarted serve has emitted, reads its spool metrics, SIGTERM (which drains)."""
    wait_until(lambda: serve.metrics().get("ldai_otel_serve_runs_emitted_total", 0) >= runs, 60)
    metrics = serve.metrics()
    extra["resent"] = metrics.get("ldai_otel_serve_spool_runs_resent_total", 0)
    extra["window"] = metrics.get("ldai_otel_serve_spool_resend_window_seconds", 0)
    serve.stop(signal.SIGTERM)


def after_ack(sink: LDEventSink, state: str, signum: int, extra: dict) -> list[str]:
    serve = Serve(sink, state, "--decision-wait", "5")
    provider = provider_to(serve.grpc)
    tracer = provider.get_tracer("app")
    run_ids = [a_run(tracer) for _ in range(200)]
    provider.force_flush(120_000)
    time.sleep(0.01)
    serve.stop(signum)
    serve.start("--decision-wait", "1")
    finish(serve, 0, extra)  # the restart emits only what a spool gave back: nothing to wait for without one
    provider.shutdown()
    return run_ids


def slow_client(sink: LDEventSink, state: str, extra: dict) -> list[str]:
    serve = Serve(sink, state, "--decision-wait", "0.5")
    provider = provider_to(serve.grpc)
    tracer = provider.get_tracer("app")
    run_ids = [a_run(tracer) for _ in range(150)]
    provider.force_flush(120_000)
    wait_until(lambda: tally(sink, run_ids)[0] == 150)
    sink.delay_s = 10.0  # the events endpoint is slow from here on
    posts = sink.post_count
    run_ids += [a_run(tracer) for _ in range(50)]
    provider.force_flush(120_000)
    # Killed as soon as the 50 runs are in the client: their events wait for its next flush
    # (or for the slow endpoint's answer, if a post already left).
    wait_until(lambda: serve.metrics()["ldai_otel_serve_runs_emitted_total"] >= 200)
    serve.stop(signal.SIGKILL)
    extra["posted"] = sink.post_count - posts
    sink.delay_s = 0.0
    serve.start("--decision-wait", "0.5")
    finish(serve, 50 if state else 0, extra)
    provider.shutdown()
    return run_ids


def traffic(sink: LDEventSink, state: str, seconds: float, extra: dict) -> list[str]:
    serve = Serve(sink, state, "--decision-wait", "2")
    provider = provider_to(serve.grpc)
    tracer = provider.get_tracer("app")
    run_ids: list[str] = []

    def produce() -> None:
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            run_ids.append(a_run(tracer))
            n += 1
            time.sleep(max(0.0, start + n / 200 - time.monotonic()))

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(seconds / 2)
    serve.stop(signal.SIGKILL)
    serve.start("--decision-wait", "2")
    producer.join()
    provider.force_flush(300_000)
    time.sleep(3)  # the last decision wait
    finish(serve, 0, extra)
    provider.shutdown()
    return run_ids


def huge(sink: LDEventSink, state: str, extra: dict) -> list[str]:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    serve = Serve(sink, state, "--decision-wait", "1", "--max-spans-per-trace", "50")
    memory = InMemorySpanExporter()
    recorder = TracerProvider(resource=Resource.create({"service.name": "agent"}))
    recorder.add_span_processor(SimpleSpanProcessor(memory))
    tracer = recorder.get_tracer("app")
    with tracer.start_as_current_span("session", attributes=ROOT) as root:
        for _ in range(120):
            _chat(tracer, 1)
    spans = memory.get_finished_spans()
    exporter = OTLPSpanExporter(endpoint=serve.grpc, insecure=True, timeout=60)
    exporter.export([s for s in spans if s.name != "session"])
    exporter.export([s for s in spans if s.name == "session"])  # the root last
    time.sleep(3)
    serve.stop(signal.SIGTERM)
    run_id = str(uuid.UUID(int=root.get_span_context().trace_id))
    tokens = [e["metricValue"] for e in sink.ai_events(run_id) if e["key"] == INPUT]
    extra["tokens"] = "input-token events %s (of 120)" % tokens
    return [run_id]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mode", choices=("both", "spool", "none"), default="both")
    parser.add_argument("--traffic-seconds", type=float, default=20.0)
    parser.add_argument("--only", type=int, default=0, help="run scenario N (1-5) only")
    args = parser.parse_args(argv)
    modes = ("spool", "none") if args.mode == "both" else (args.mode,)
    scenarios = [
        ("SIGKILL 10 ms after the last acknowledgement, restart", lambda s, st, x: after_ack(s, st, signal.SIGKILL, x)),
        ("SIGKILL while 50 runs' events wait in the LaunchDarkly client", slow_client),
        ("~200 runs/s, SIGKILL and restart halfway", lambda s, st, x: traffic(s, st, args.traffic_seconds, x)),
        ("SIGTERM after acknowledgement, restart", lambda s, st, x: after_ack(s, st, signal.SIGTERM, x)),
        ("one run of 121 spans, --max-spans-per-trace 50, root last", huge),
    ]
    for mode in modes:
        print("## %s" % ("with --state-dir (--fsync always)" if mode == "spool" else "without a spool"))
        print("| scenario | runs sent | arrived once | lost | duplicated | re-sent (counted) | re-send window |")
        for number, (name, scenario) in enumerate(scenarios, 1):
            if args.only and number != args.only:
                continue
            with LDEventSink() as sink, tempfile.TemporaryDirectory() as tmp:
                extra: dict = {}
                run_ids = scenario(sink, os.path.join(tmp, "state") if mode == "spool" else "", extra)
                once, lost, twice = tally(sink, run_ids)
                window = "%.1f ms" % (1000 * extra["window"]) if extra.get("window") else "-"
                note = " %s" % extra["tokens"] if "tokens" in extra else ""
                print(
                    "| %s%s | %d | %d | %d | %d | %s | %s |"
                    % (name, note, len(run_ids), once, lost, twice, int(extra.get("resent", 0)), window)
                )
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
