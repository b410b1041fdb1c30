"""A real OpenTelemetry Collector (built by scripts/collector) as a subprocess on loopback ports.

The binary is ``$LDAI_OTEL_COLLECTOR_BIN`` (scripts/test sets it), else the path
scripts/collector would build to. Without it the Collector tests fail under CI
(``CI=true``: the build is part of the run) and are skipped elsewhere, with how
to build it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "collector"


def collector_binary() -> str:
    """The Collector to run; fails (CI) or skips (elsewhere) when it is not built."""
    path = os.environ.get("LDAI_OTEL_COLLECTOR_BIN")
    if not path:
        result = subprocess.run(
            ["bash", str(REPO / "scripts" / "collector"), "--print-path"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        path = result.stdout.strip()
    if path and os.access(path, os.X_OK):
        return path
    message = "no OpenTelemetry Collector at %r: build it with `bash scripts/collector`" % path
    if os.environ.get("CI") == "true" or os.environ.get("LDAI_OTEL_COLLECTOR_BIN"):
        pytest.fail(message)
    pytest.skip(message)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the Collector binds it a moment later)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Polls ``condition`` until it is true; fails with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.0f s waiting for %s" % (timeout_s, what))
        time.sleep(0.1)


class Collector:
    """A running Collector: its OTLP ports, its log, and how to stop it."""

    def __init__(self, proc: subprocess.Popen, grpc_port: int, http_port: int, log: Path):
        self.proc = proc
        self.grpc_port = grpc_port
        self.http_port = http_port
        self.log = log

    @property
    def grpc_endpoint(self) -> str:
        return "127.0.0.1:%d" % self.grpc_port

    @property
    def http_url(self) -> str:
        return "http://127.0.0.1:%d/v1/traces" % self.http_port

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM: the Collector drains its in-memory queues and exits; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def validate(config: Path, *sets: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``otelcol validate --config config`` (with ``--set`` overrides)."""
    argv = [collector_binary(), "validate", "--config", str(config), *("--set=%s" % s for s in sets)]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}, check=False
    )


@contextmanager
def start_collector(
    config: Path,
    tmp_path: Path,
    *sets: str,
    env: dict | None = None,
    prefix: tuple[str, ...] = (),
    extensions: tuple[str, ...] = (),
    ports: tuple[int, int] | None = None,
) -> Iterator[Collector]:
    """Runs the Collector on ``config``, its OTLP receiver and health check moved to free loopback ports.

    ``sets`` are more ``--set`` overrides (``key::path=value``); ``extensions`` are the
    configuration's own (the health check joins them); ``prefix`` wraps the command (e.g.
    ``unshare``); ``ports`` reuses a (gRPC, HTTP) pair, for a restart.
    """
    grpc_port, http_port = ports or (free_port(), free_port())
    health = free_port()
    overrides = [
        "receivers::otlp::protocols::grpc::endpoint=127.0.0.1:%d" % grpc_port,
        "receivers::otlp::protocols::http::endpoint=127.0.0.1:%d" % http_port,
        "extensions::health_check::endpoint=127.0.0.1:%d" % health,
        "service::extensions=[%s]" % ",".join(("health_check", *extensions)),
        "service::telemetry::metrics::level=none",
        *sets,
    ]
    log = tmp_path / ("otelcol-%d.log" % len(list(tmp_path.glob("otelcol-*.log"))))
    argv = [*prefix, collector_binary(), "--config", str(config), *("--set=%s" % s for s in overrides)]
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    collector = Collector(proc, grpc_port, http_port, log)
    try:
        wait_until(lambda: proc.poll() is not None or _healthy(health), 60, "the Collector's health check")
        assert proc.poll() is None, "the Collector exited (%s):\n%s" % (proc.returncode, collector.output())
        yield collector
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


class SpanBackend(trace_service_pb2_grpc.TraceServiceServicer):
    """A tracing backend stand-in: an OTLP/gRPC trace receiver on loopback that counts spans."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.span_ids: list[bytes] = []
        self.trace_ids: set[bytes] = set()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def Export(self, request, context):  # noqa: N802 (gRPC naming)
        with self._lock:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.span_ids.append(span.span_id)
                        self.trace_ids.add(span.trace_id)
        return trace_service_pb2.ExportTraceServiceResponse()

    @property
    def endpoint(self) -> str:
        return "127.0.0.1:%d" % self.port

    def __enter__(self) -> SpanBackend:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=1).wait(5)
