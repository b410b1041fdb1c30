"""``ldai-otel serve`` benchmark: sustained throughput, decode-only baseline, memory per span.

Run from the repository root (a few minutes with the defaults)::

    python benchmarks/serve_bench.py
    python benchmarks/serve_bench.py --spans 400000 --reps 5 --fixed-seconds 120

The workload is a realistic mix: traces of 8 spans; 40% of them are runs (a
root carrying the ``ld.ai_config.*`` identity, two chat spans with usage, a
tool span, four plain spans), 60% plain traces of HTTP/DB spans, so 90% of
all spans are non-GenAI. Requests carry 512 spans (the SDK's and the
Collector's batch size), whole traces each.

Parts:

- throughput: serve runs as a child process (pinned to CPU 0 with
  ``taskset`` when there is one), a real ``LDClient`` inside it sending to the
  loopback sink of ``_sink.py``; the requests go over OTLP/gRPC and OTLP/HTTP
  (protobuf) from a few client threads. Spans per second is the number of
  spans over serve's own CPU time (user + system, from ``/proc``) from the
  first request until every run is emitted: spans per core-second, which the
  machine's other load does not change much. Wall-clock rates are printed too.
- with the spool: the same throughput part with ``--state-dir`` (a fresh
  directory under ``--spool-root``, default the system's temporary directory;
  ``--fsync always``, the default), in the same run: the spool's cost is the
  drop in spans per CPU-second.
- decode-only: a child process on the same CPU parses the same requests and
  touches every span (ids, name, times, every attribute key); spans per
  CPU-second, and serve's ratio to it.
- bytes held per buffered span: RSS growth of a serve that holds N spans
  (decision wait far off) over N.
- fixed rate: RSS and spans held after ``--fixed-seconds`` at
  ``--fixed-rate`` spans/s, serve's default decision wait and retention divided
  by ``--time-scale`` (default 20: 60 s then cover two retention windows,
  as 20 minutes at the defaults would; the held state is then steady).

Figures are medians over ``--reps`` fresh serve processes, with (min..max).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 512
TRACE_SPANS = 8
RUN_SHARE = 0.4  # 40% run traces x 2 GenAI spans of 8 = 10% GenAI spans


def _kv(key: str, value: object) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    else:
        kv.value.string_value = str(value)
    return kv


def _add_span(scope_spans, trace_id: bytes, span_id: int, parent: int, name: str, attrs: dict, t0: int, kind=1):
    span = scope_spans.spans.add()
    span.trace_id = trace_id
    span.span_id = span_id.to_bytes(8, "big")
    if parent:
        span.parent_span_id = parent.to_bytes(8, "big")
    span.name = name
    span.kind = kind
    span.start_time_unix_nano = t0
    span.end_time_unix_nano = t0 + 5_000_000
    span.attributes.extend(_kv(k, v) for k, v in attrs.items())


def _trace(resource_spans: ResourceSpans, rng: random.Random, is_run: bool, t0: int) -> int:
    """Appends one trace of 8 spans; returns how many are runs (0 or 1)."""
    trace_id = rng.getrandbits(128).to_bytes(16, "big")
    ids = [rng.getrandbits(63) | 1 for _ in range(TRACE_SPANS)]
    app = resource_spans.scope_spans.add()
    app.scope.name = "app"
    http = {"http.request.method": "POST", "url.path": "/answer", "http.response.status_code": 200}
    db = {"db.system": "postgresql", "db.operation.name": "SELECT", "db.collection.name": "docs"}
    if is_run:
        root = {"ld.ai_config.key": "chat-config", "ld.ai_config.variation_key": "v1", "ld.ai_config.version": 3}
        _add_span(app, trace_id, ids[0], 0, "agent", root, t0)
        _add_span(app, trace_id, ids[1], ids[0], "POST /answer", http, t0, kind=2)
        genai = resource_spans.scope_spans.add()
        genai.scope.name = "opentelemetry.instrumentation.openai_v2"
        for n, parent in ((2, ids[1]), (3, ids[1])):
            chat = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.response.id": "chatcmpl-%x" % ids[n],
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
            }
            _add_span(genai, trace_id, ids[n], parent, "chat gpt-4o-mini", chat, t0, kind=3)
        tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
        _add_span(app, trace_id, ids[4], ids[1], "execute_tool search", tool, t0)
        for n in range(5, 8):
            _add_span(app, trace_id, ids[n], ids[4], "SELECT docs", db, t0, kind=3)
        return 1
    _add_span(app, trace_id, ids[0], 0, "GET /items", http, t0, kind=2)
    for n in range(1, 8):
        _add_span(app, trace_id, ids[n], ids[n // 2], "SELECT items" if n % 2 else "render", db, t0)
    return 0


def build_requests(spans: int, seed: int = 7) -> tuple[list[bytes], int]:
    """Serialized ExportTraceServiceRequests of BATCH spans (whole traces); and how many runs they hold."""
    rng = random.Random(seed)
    requests, runs, t0 = [], 0, time.time_ns()
    for _ in range(max(1, spans // BATCH)):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend([_kv("service.name", "bench-app"), _kv("host.name", "node-1")])
        for _ in range(BATCH // TRACE_SPANS):
            runs += _trace(resource_spans, rng, rng.random() < RUN_SHARE, t0)
        requests.append(request.SerializeToString())
    return requests, runs


def read_metrics(http: str) -> dict[str, float]:
    """serve's Prometheus metrics at ``http`` (HOST:PORT), name with labels -> value."""
    with urllib.request.urlopen("http://%s/metrics" % http, timeout=30) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


class Serve:
    """``ldai-otel serve`` as a child process (pinned to CPU 0 when taskset exists)."""

    def __init__(self, sink_uri: str, *flags: str, pin: bool = True):
        argv = [sys.executable, "-m", "ldai_otel.cli", "serve", "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0"]
        argv += ["--max-spans", "2000000", "--max-traces", "300000", "--flush-interval", "1", *flags]
        if pin and shutil.which("taskset"):
            argv = ["taskset", "-c", "0", *argv]
        env = {**os.environ, "LAUNCHDARKLY_SDK_KEY": "sdk-bench", "LAUNCHDARKLY_EVENTS_URI": sink_uri}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "listening on" not in line:
            raise RuntimeError("serve did not start: %r" % line)
        ports = dict(part.split(" ") for part in line.split("listening on ", 1)[1].split(" (")[0].split(", "))
        self.grpc = ports["grpc"]
        self.http = ports["http"]

    def cpu_s(self) -> float:
        with open("/proc/%d/stat" % self.proc.pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        with open("/proc/%d/status" % self.proc.pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def metrics(self) -> dict[str, float]:
        return read_metrics(self.http)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def _sender(serve: Serve, protocol: str) -> Callable[[bytes], None]:
    if protocol == "grpc":
        import grpc

        channel = grpc.insecure_channel(serve.grpc, options=[("grpc.max_send_message_length", 64 << 20)])
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        return lambda body: export(body, timeout=60)
    import http.client

    local = threading.local()
    host, port = serve.http.rsplit(":", 1)

    def post(body: bytes) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        local.connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
        response = local.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError("HTTP %d" % response.status)

    return post


def send_all(send: Callable[[bytes], None], requests: list[bytes], concurrency: int) -> None:
    queue = list(reversed(requests))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                body = queue.pop()
            try:
                send(body)
            except BaseException as exc:  # reported after the run
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _successes(sink_uri: str) -> int:
    with urllib.request.urlopen(sink_uri + "/counts", timeout=30) as response:
        return int(json.loads(response.read()).get("$ld:ai:generation:success", 0))


def throughput(
    sink_uri: str, protocol: str, requests: list[bytes], runs: int, args: argparse.Namespace, spool: bool = False
) -> dict:
    flags = ["--decision-wait", "1", "--retention", "5"]
    state = tempfile.mkdtemp(prefix="ldai-serve-spool-", dir=args.spool_root) if spool else ""
    if spool:
        flags += ["--state-dir", state, "--fsync", args.fsync]
    serve = Serve(sink_uri, *flags, pin=not args.no_taskset)
    before = _successes(sink_uri)
    try:
        spans = len(requests) * BATCH
        cpu0, wall0 = serve.cpu_s(), time.perf_counter()
        send_all(_sender(serve, protocol), requests, args.concurrency)
        wall_sent = time.perf_counter() - wall0
        while serve.metrics().get("ldai_otel_serve_runs_emitted_total", 0) < runs:
            time.sleep(0.05)
        cpu = serve.cpu_s() - cpu0
        metrics = serve.metrics()
    finally:
        serve.stop()  # flushes the LaunchDarkly client
        if state:
            shutil.rmtree(state, ignore_errors=True)
    refused = sum(v for k, v in metrics.items() if k.startswith("ldai_otel_serve_requests_refused_total"))
    delivered = _successes(sink_uri) - before
    return {"cpu_rate": spans / cpu, "wall_rate": spans / wall_sent, "refused": refused, "delivered": delivered}


DECODE_ONLY = r"""
import sys, time
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
bodies = [open(p, "rb").read() for p in sys.argv[1:]]
start, touched = time.process_time(), 0
for body in bodies:
    request = ExportTraceServiceRequest.FromString(body)
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.trace_id, span.span_id, span.parent_span_id, span.name
                span.start_time_unix_nano, span.end_time_unix_nano
                for kv in span.attributes:
                    kv.key
                touched += 1
print(touched / (time.process_time() - start))
"""


def decode_only(paths: list[str], pin: bool) -> float:
    argv = [sys.executable, "-c", DECODE_ONLY, *paths]
    if pin and shutil.which("taskset"):
        argv = ["taskset", "-c", "0", *argv]
    return float(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600).stdout)


def bytes_per_span(sink_uri: str, requests: list[bytes], args: argparse.Namespace) -> float:
    serve = Serve(sink_uri, "--decision-wait", "600", pin=not args.no_taskset)
    try:
        send = _sender(serve, "grpc")
        send(requests[0])  # warm up (imports, first allocations)
        before, held0 = serve.rss_bytes(), serve.metrics()["ldai_otel_serve_spans_held"]
        send_all(send, requests[1:], 1)
        held = serve.metrics()["ldai_otel_serve_spans_held"] - held0
        return (serve.rss_bytes() - before) / held
    finally:
        serve.stop()


def fixed_rate(sink_uri: str, requests: list[bytes], args: argparse.Namespace) -> dict:
    # The default decision wait (30 s) and retention (600 s), divided by --time-scale: a run of
    # --fixed-seconds covers --time-scale times as many retention windows, so the held state
    # (spans remembered for late spans, within the bounds) reaches its steady size sooner.
    wait, retention = 30.0 / args.time_scale, 600.0 / args.time_scale
    serve = Serve(sink_uri, "--decision-wait", "%g" % wait, "--retention", "%g" % retention, pin=not args.no_taskset)
    try:
        send = _sender(serve, "grpc")
        start_rss, interval = serve.rss_bytes(), BATCH / args.fixed_rate
        start, sent, n = time.perf_counter(), 0, 0
        while time.perf_counter() - start < args.fixed_seconds:
            send(requests[n % len(requests)] if n < len(requests) else _fresh(requests, n))
            sent, n = sent + BATCH, n + 1
            time.sleep(max(0.0, start + n * interval - time.perf_counter()))
        metrics = serve.metrics()
        return {
            "spans": sent,
            "rss_start": start_rss,
            "rss_end": serve.rss_bytes(),
            "held": metrics["ldai_otel_serve_spans_held"],
            "traces": metrics["ldai_otel_serve_traces_held"],
            "peak": metrics["ldai_otel_serve_spans_peak"],
            "wait": wait,
            "retention": retention,
        }
    finally:
        serve.stop()


def _fresh(requests: list[bytes], n: int) -> bytes:
    # Past the pre-built requests: the same spans under new trace ids (a new trace each).
    request = ExportTraceServiceRequest.FromString(requests[n % len(requests)])
    salt = n.to_bytes(4, "big")
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.trace_id = salt + span.trace_id[4:]
    return request.SerializeToString()


def spread(values: list[float], fmt: str = "%.0f") -> str:
    return "%s (%s..%s)" % (fmt % statistics.median(values), fmt % min(values), fmt % max(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans per throughput repetition")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="client threads sending")
    parser.add_argument("--held-spans", type=int, default=100_000, help="spans held for the bytes-per-span part")
    parser.add_argument("--fixed-rate", type=float, default=5_000, help="spans/s of the fixed-rate part")
    parser.add_argument("--fixed-seconds", type=float, default=60, help="duration of the fixed-rate part")
    parser.add_argument(
        "--time-scale", type=float, default=20, help="divides serve's default decision wait and retention"
    )
    parser.add_argument("--no-taskset", action="store_true", help="do not pin serve to CPU 0")
    parser.add_argument("--no-spool", action="store_true", help="skip the throughput part with the spool")
    parser.add_argument("--spool-root", default=None, help="where the spool's state directories go")
    parser.add_argument("--fsync", default="always", help="the spool's --fsync policy")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args(argv)

    requests, runs = build_requests(args.spans)
    spans = len(requests) * BATCH
    pinned = "pinned to CPU 0" if shutil.which("taskset") and not args.no_taskset else "not pinned"
    print(
        "workload: %d requests of %d spans (%d spans, %d runs of 8; 90%% non-GenAI); serve %s; %d CPUs, load %s"
        % (len(requests), BATCH, spans, runs, pinned, os.cpu_count() or 0, "%.1f %.1f %.1f" % os.getloadavg())
    )
    sink = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "_sink.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    sink_uri = sink.stdout.readline().strip() if sink.stdout else ""
    results: dict = {"runs": runs}
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, body in enumerate(requests):
            path = os.path.join(tmp, "r%d.bin" % i)
            with open(path, "wb") as out:
                out.write(body)
            paths.append(path)
        try:
            decode = [decode_only(paths, not args.no_taskset) for _ in range(args.reps)]
            results["decode_only"] = decode
            print("decode-only: %s spans/CPU-s" % spread(decode))
            for protocol in ("grpc", "http"):
                # Without and with the spool alternate per repetition, so drifting load hits both alike.
                by_mode: dict[bool, list[dict]] = {False: [], True: []}
                for _ in range(args.reps):
                    for spool in (False,) if args.no_spool else (False, True):
                        by_mode[spool].append(throughput(sink_uri, protocol, requests, runs, args, spool))
                for spool, reps in by_mode.items():
                    if not reps:
                        continue
                    cpu = [r["cpu_rate"] for r in reps]
                    ratio = [r / statistics.median(decode) for r in cpu]
                    name = protocol + ("+spool" if spool else "")
                    results[name.replace("+", "_")] = reps
                    print(
                        "%s: %s spans/CPU-s of serve; wall %s spans/s; %s x decode-only; %d request(s) refused, "
                        "%d run(s) missing at the sink"
                        % (
                            name,
                            spread(cpu),
                            spread([r["wall_rate"] for r in reps]),
                            spread(ratio, "%.2f"),
                            sum(r["refused"] for r in reps),
                            sum(runs - r["delivered"] for r in reps),
                        )
                    )
            for protocol in ("grpc", "http") if not args.no_spool else ():
                off = statistics.median(r["cpu_rate"] for r in results[protocol])
                on = statistics.median(r["cpu_rate"] for r in results[protocol + "_spool"])
                results[protocol + "_spool_ratio"] = on / off
                print(
                    "spool %s: %.0f -> %.0f spans/CPU-s with --state-dir (--fsync %s): %.2f of without, cost %.0f%%"
                    % (protocol, off, on, args.fsync, on / off, 100 * (1 - on / off))
                )
            held_requests, _ = build_requests(args.held_spans + BATCH, seed=11)
            per_span = [bytes_per_span(sink_uri, held_requests, args) for _ in range(args.reps)]
            results["bytes_per_span"] = per_span
            print(
                "bytes held per buffered span: %s (RSS growth over %d spans held)"
                % (spread(per_span), len(held_requests[1:]) * BATCH)
            )
            fixed = fixed_rate(sink_uri, requests, args)
            results["fixed"] = fixed
            template = "fixed rate: %d spans in %gs at %g spans/s, decision wait %gs, retention %gs "
            template += "(%g retention windows; 10 minutes at the defaults is 1): RSS %.1f -> %.1f MiB, "
            template += "%d spans / %d traces held (peak %d)"
            print(
                template
                % (
                    fixed["spans"],
                    args.fixed_seconds,
                    args.fixed_rate,
                    fixed["wait"],
                    fixed["retention"],
                    args.fixed_seconds / fixed["retention"],
                    fixed["rss_start"] / 2**20,
                    fixed["rss_end"] / 2**20,
                    fixed["held"],
                    fixed["traces"],
                    fixed["peak"],
                )
            )
        finally:
            if sink.stdin:
                sink.stdin.close()
            sink.wait(timeout=30)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
