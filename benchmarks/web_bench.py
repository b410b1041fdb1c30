"""Web-service benchmark: ldai-otel as a user meets it, in an ASGI app under load.

Run from the repository root (needs the ``bench`` dependency group)::

    python benchmarks/web_bench.py                         # 3 rounds x 5 s per variant (about 3 minutes)
    python benchmarks/web_bench.py --rounds 5 --seconds 15 # the longer run

Five copies of one Starlette app run under uvicorn (one worker each, each in
its own process). Per request the endpoint evaluates an AI Config (a real
``LDClient`` on TestData) and makes one async ``openai`` call to a loopback
stub that answers after 20 ms. The variants:

- "none": no tracing at all;
- "otel": contrib ``openai-v2`` instrumentation, a ``BatchSpanProcessor`` and
  the OTLP/HTTP exporter (to a loopback sink);
- "hand": "otel" plus hand-written ``ldai`` tracking (``create_tracker``,
  ``track_duration``, ``track_tokens``, ``track_success``);
- "floor": "hand" plus what the run contract puts on the trace: the call
  inside one more span started with ``ai_run``'s attributes (exported like
  every span), and the ``ld.ai_config.*`` attributes stamped on the model
  call's span at start. No run model, no processor's bookkeeping: the least
  any implementation of the contract adds to hand-written tracking;
- "ldai": "otel" plus the call inside ``ai_run`` and ``LDAISpanProcessor``.

A load generator in its own process keeps a fixed number of keep-alive
connections busy (closed loop) against one app at a time; the variants take
turns in rotating order, round after round. Per window: requests per second,
p50 and p99 latency, and the app process's CPU time (user + system from
``/proc/<pid>/stat``, the event-loop thread's from its task entry) per
request, counted until the app has exported its spans and the LaunchDarkly
sink has every event of the window (each variant has its own events sink, a
child process, checked after every window). Ratios are paired per round and
shown as median (min..max) over rounds. Linux only; everything binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ("none", "otel", "hand", "floor", "ldai")
CONFIG_KEY = "chat-config"
MARKER_KEY = "ldai-otel-bench:marker"
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"},
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
).encode()


# --------------------------------------------------------------------------
# The loopback stub: OpenAI chat completions (fixed latency) and an OTLP/HTTP traces sink
# --------------------------------------------------------------------------


def run_stub(latency_s: float) -> None:
    """Serves until stdin closes; prints its base URI first."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/chat/completions"):
                time.sleep(latency_s)
                self._answer(_COMPLETION, "application/json")
            else:  # /v1/traces: an empty ExportTraceServiceResponse
                self._answer(b"", "application/x-protobuf")

        def _answer(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024  # every app opens its pool at once: the default 5 resets connections

    server = Server(("127.0.0.1", 0), Handler)
    print("http://127.0.0.1:%d" % server.server_address[1], flush=True)
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


# --------------------------------------------------------------------------
# The app (one variant per process)
# --------------------------------------------------------------------------


def build_app(variant: str, stub_uri: str, sink_uri: str) -> Any:
    """The Starlette app of one variant."""
    import openai
    from ldai import LDAIClient
    from ldai.models import AICompletionConfigDefault
    from ldai.tracker import TokenUsage
    from ldclient import Config, Context, LDClient
    from ldclient.integrations.test_data import TestData
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from ldai_otel import LDAISpanProcessor, ai_run
    from ldai_otel.testing import add_ai_config

    td = TestData.data_source()
    add_ai_config(td, CONFIG_KEY, variation_key="v-chat", version=3, model="gpt-test", provider="openai")
    ld_client = LDClient(
        config=Config(
            "sdk-ldai-otel-web-bench",
            update_processor_class=td,
            events_uri=sink_uri,
            diagnostic_opt_out=True,
            events_max_pending=200_000,
        ),
        start_wait=5,
    )
    ai_client = LDAIClient(ld_client)
    default = AICompletionConfigDefault(enabled=False)
    provider = processor = None
    if variant != "none":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "web-bench-" + variant}))
        if variant == "ldai":
            processor = LDAISpanProcessor(ld_client)
            provider.add_span_processor(processor)
        elif variant == "floor":
            from workloads.genai import StampingProcessor

            provider.add_span_processor(StampingProcessor())
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=stub_uri + "/v1/traces")))
        OpenAIInstrumentor().instrument(tracer_provider=provider)
    client = openai.AsyncOpenAI(base_url=stub_uri + "/v1", api_key="sk-bench", max_retries=0)
    users = [Context.create("user-%d" % i) for i in range(64)]
    messages = [{"role": "user", "content": "Say hello."}]
    served = [0]

    async def call() -> Any:
        return await client.chat.completions.create(model="gpt-test", messages=messages)

    tracer = provider.get_tracer("web-bench") if provider is not None else None

    async def run_span_call() -> Any:
        from workloads.genai import RUN_SPAN_ATTRIBUTES

        with tracer.start_as_current_span("ai_run " + CONFIG_KEY, attributes=RUN_SPAN_ATTRIBUTES):
            return await call()

    async def chat(request: Request) -> PlainTextResponse:
        served[0] += 1
        user = users[served[0] % 64]
        config = ai_client.completion_config(CONFIG_KEY, user, default)
        if variant in ("hand", "floor"):
            tracker = config.create_tracker()
            start = time.perf_counter_ns()
            response = await (run_span_call() if variant == "floor" else call())
            tracker.track_duration((time.perf_counter_ns() - start) // 1_000_000)
            usage = response.usage
            tracker.track_tokens(
                TokenUsage(total=usage.total_tokens, input=usage.prompt_tokens, output=usage.completion_tokens)
            )
            tracker.track_success()
        elif variant == "ldai":
            async with ai_run(config, user, tracer_provider=provider):
                response = await call()
        else:
            response = await call()
        return PlainTextResponse(response.choices[0].message.content)

    def flush(request: Request) -> JSONResponse:
        # Spans exported and every event handed to the client, then one flush
        # whose payload carries the marker: the sink has all when it has that.
        if provider is not None:
            provider.force_flush()
        ld_client.track(MARKER_KEY, Context.create("ldai-otel-bench"), {"seq": int(request.query_params["seq"])})
        if processor is not None:
            processor.force_flush()
        else:
            ld_client.flush()
        return JSONResponse({"served": served[0]})

    def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/chat", chat), Route("/flush", flush, methods=["POST"]), Route("/health", health)])


def run_app(variant: str, stub_uri: str, sink_uri: str, port: int) -> None:
    import logging

    import uvicorn

    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = build_app(variant, stub_uri, sink_uri)
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


# --------------------------------------------------------------------------
# The load generator (own process): closed loop over keep-alive connections
# --------------------------------------------------------------------------


async def _load(port: int, seconds: float, connections: int) -> dict:
    request = b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    latencies: list[float] = []
    errors = [0]
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                errors[0] += 1  # counted and reported; the run then fails
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            latencies.append(time.perf_counter() - sent)
            if head[9:12] != b"200":
                errors[0] += 1
        writer.close()

    await asyncio.gather(*(worker(r, w) for r, w in streams))
    elapsed = time.perf_counter() - start
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors[0],
        "seconds": elapsed,
        "p50_ms": 1000 * latencies[n // 2] if n else 0.0,
        "p99_ms": 1000 * latencies[min(n - 1, (99 * n) // 100)] if n else 0.0,
    }


def run_load(port: int, seconds: float, connections: int) -> None:
    print(json.dumps(asyncio.run(_load(port, seconds, connections))), flush=True)


# --------------------------------------------------------------------------
# The orchestrator
# --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int, task: int | None = None) -> float:
    """utime + stime of a process (or one of its threads), in seconds."""
    path = "/proc/%d/task/%d/stat" % (pid, task) if task is not None else "/proc/%d/stat" % pid
    with open(path) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


class App:
    """One variant's app process and its own LaunchDarkly events sink."""

    def __init__(self, variant: str, stub_uri: str, sink: Any, name: str = "", pythonpath: str = ""):
        self.variant = variant
        self.name = name or variant
        self.sink = sink
        self.port = _free_port()
        env = dict(os.environ)
        if pythonpath:  # another checkout's ldai_otel, imported before the installed one
            env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--role", "app", "--variant", variant, "--stub", stub_uri, "--sink", sink.uri]
            + ["--port", str(self.port)],
            env=env,
        )
        self.uri = "http://127.0.0.1:%d" % self.port

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("app %s did not start" % self.variant) from None
                time.sleep(0.2)

    def flush(self) -> int:
        """Exports, delivers every event, waits for the sink; returns how many /chat requests it served."""
        seq = self.sink.next_seq()
        req = urllib.request.Request(self.uri + "/flush?seq=%d" % seq, method="POST")
        with urllib.request.urlopen(req, timeout=60) as answer:
            served = json.loads(answer.read())["served"]
        self.sink.wait(seq)
        return served

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def window(app: App, seconds: float, connections: int) -> dict:
    """One closed-loop load window on ``app``; CPU counted until its spans and events are delivered."""
    pid = app.process.pid
    cpu0, loop0 = _cpu_s(pid), _cpu_s(pid, pid)
    load = subprocess.run(
        [sys.executable, __file__, "--role", "load", "--port", str(app.port), "--seconds", str(seconds)]
        + ["--connections", str(connections)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    result = json.loads(load.stdout)
    result["served"] = app.flush()
    cpu1, loop1 = _cpu_s(pid), _cpu_s(pid, pid)
    n = max(1, result["requests"])
    result["rps"] = result["requests"] / result["seconds"]
    result["cpu_ms"] = 1000 * (cpu1 - cpu0) / n  # ms per request = s per 1,000 requests
    result["loop_ms"] = 1000 * (loop1 - loop0) / n
    return result


def _spread(values: list[float], fmt: str) -> str:
    ordered = sorted(values)
    return (fmt + " (" + fmt + ".." + fmt + ")") % (statistics.median(ordered), ordered[0], ordered[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each loads every variant once")
    parser.add_argument("--seconds", type=float, default=5.0, help="load window per variant per round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load per app before the rounds")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections of the load generator")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the OpenAI stub's answer delay")
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        help="also run the ldai variant on the ldai_otel package found in DIR (another checkout), as 'base'",
    )
    parser.add_argument("--role", choices=("main", "stub", "app", "load"), default="main", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--stub", help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "stub":
        run_stub(args.latency_ms / 1000)
        return 0
    if args.role == "app":
        run_app(args.variant, args.stub, args.sink, args.port)
        return 0
    if args.role == "load":
        run_load(args.port, args.seconds, args.connections)
        return 0
    return orchestrate(args)


def orchestrate(args: argparse.Namespace) -> int:
    sys.path.insert(0, HERE)
    from bench_common import SinkProcess  # the benchmark's out-of-process events sink

    stub = subprocess.Popen(
        [sys.executable, __file__, "--role", "stub", "--latency-ms", str(args.latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stub_uri = stub.stdout.readline().strip()
    names = VARIANTS + (("base",) if args.baseline else ())
    sinks = [SinkProcess() for _ in names]
    apps = [App(v, stub_uri, s) for v, s in zip(VARIANTS, sinks, strict=False)]
    if args.baseline:
        apps.append(App("ldai", stub_uri, sinks[-1], name="base", pythonpath=os.path.abspath(args.baseline)))
    results: dict[str, list[dict]] = {a.name: [] for a in apps}
    try:
        for app in apps:
            app.wait_ready()
        if args.warmup > 0:
            for app in apps:
                window(app, args.warmup, args.connections)
        for r in range(args.rounds):
            order = apps[r % len(apps) :] + apps[: r % len(apps)]
            for app in order:
                results[app.name].append(window(app, args.seconds, args.connections))
        checks = {}
        for app in apps:
            counts = app.sink.counts()
            served = results[app.name][-1]["served"] if results[app.name] else 0
            checks[app.name] = (
                counts.get("$ld:ai:tokens:total", 0),
                counts.get("$ld:ai:generation:success", 0),
                served,
            )
    finally:
        for app in apps:
            app.close()
        for sink in sinks:
            sink.close()
        stub.stdin.close()
        stub.wait(timeout=15)
    report(results, checks, args)
    complete = all(checks[v][0] == checks[v][1] == checks[v][2] for v in checks if v not in ("none", "otel"))
    errors = sum(w["errors"] for ws in results.values() for w in ws)
    return 0 if complete and not errors else 1


def report(results: dict[str, list[dict]], checks: dict, args: argparse.Namespace) -> None:
    print()
    print(
        "web-service workload (python %s, %d CPUs): uvicorn + Starlette, one async openai call to a %g ms stub, "
        "%d connections, %d rounds x %g s per variant, median (min..max) over rounds"
        % (sys.version.split()[0], os.cpu_count() or 0, args.latency_ms, args.connections, args.rounds, args.seconds)
    )
    print("  %-6s %-26s %-26s %-26s %-26s %s" % ("", "req/s", "p50 ms", "p99 ms", "app CPU ms/request", "loop thread"))
    for v in results:
        ws = results[v]
        if not ws:
            continue
        print(
            "  %-6s %-26s %-26s %-26s %-26s %s"
            % (
                v,
                _spread([w["rps"] for w in ws], "%.1f"),
                _spread([w["p50_ms"] for w in ws], "%.1f"),
                _spread([w["p99_ms"] for w in ws], "%.1f"),
                _spread([w["cpu_ms"] for w in ws], "%.3f"),
                _spread([w["loop_ms"] for w in ws], "%.3f"),
            )
        )
    hand, ours, otel, floor = results["hand"], results["ldai"], results["otel"], results["floor"]
    if hand and ours:
        print("  ratios, paired per round:")
        print("    app CPU per request, ldai / hand     %s   target <= 1.02" % _ratio(ours, hand, "cpu_ms"))
        print("    p99 latency, ldai / hand             %s   target <= 1.03" % _ratio(ours, hand, "p99_ms"))
        print("    loop-thread CPU per request, ldai / hand %s" % _ratio(ours, hand, "loop_ms"))
        if floor:
            print("    app CPU per request, floor / hand    %s   (the least)" % _ratio(floor, hand, "cpu_ms"))
            print("    app CPU per request, ldai / floor    %s" % _ratio(ours, floor, "cpu_ms"))
            print("    loop-thread CPU per request, floor / hand %s" % _ratio(floor, hand, "loop_ms"))
        added = [
            (o["cpu_ms"] - b["cpu_ms"]) / max(1e-9, h["cpu_ms"] - b["cpu_ms"])
            for o, h, b in zip(ours, hand, otel, strict=True)
        ]
        print("    CPU added over instrumentation, ldai / hand %s" % _spread(added, "%.2f"))
    base = results.get("base")
    if base and ours and hand:
        print("    app CPU per request, base / hand     %s   (the --baseline checkout)" % _ratio(base, hand, "cpu_ms"))
        print("    p99 latency, base / hand             %s" % _ratio(base, hand, "p99_ms"))
        print("    app CPU per request, ldai / base     %s" % _ratio(ours, base, "cpu_ms"))
        print("    loop-thread CPU per request, ldai / base %s" % _ratio(ours, base, "loop_ms"))
    for v in [v for v in checks if v not in ("none", "otel")]:
        tokens, success, served = checks.get(v, (0, 0, 0))
        state = "complete" if tokens == success == served else "INCOMPLETE"
        print(
            "  events at the sink (%s)  %d token and %d success events for %d requests served (%s)"
            % (v, tokens, success, served, state)
        )
    errors = {v: sum(w["errors"] for w in ws) for v, ws in results.items()}
    print("  non-200 answers  %s" % json.dumps(errors))


def _ratio(ours: list[dict], ref: list[dict], key: str) -> str:
    return _spread([o[key] / ref_w[key] for o, ref_w in zip(ours, ref, strict=True) if ref_w[key]], "%.3f")


if __name__ == "__main__":
    sys.exit(main())
