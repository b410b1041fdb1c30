"""``ldai-otel serve`` as a subprocess on 127.0.0.1, and what tests send it with the real OTLP exporters."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

SDK_KEY = "sdk-ldai-otel-test"
LISTENING = re.compile(r"listening on (.*) \(decision wait")


class Serve:
    """A running ``ldai-otel serve``: its ports, and how to stop it."""

    def __init__(self, proc: subprocess.Popen, grpc_port: int, http_port: int, stderr_path: Path):
        self.proc = proc
        self.grpc_port = grpc_port
        self.http_port = http_port
        self._stderr_path = stderr_path
        self.output = ""

    @property
    def http_url(self) -> str:
        return "http://127.0.0.1:%d/v1/traces" % self.http_port

    @property
    def grpc_endpoint(self) -> str:
        return "127.0.0.1:%d" % self.grpc_port

    def grpc_exporter(self, timeout: float = 10) -> GrpcExporter:
        """The real OTLP/gRPC exporter, pointed at serve."""
        return GrpcExporter(endpoint=self.grpc_endpoint, insecure=True, timeout=timeout)

    def http_exporter(self, gzip: bool = False, timeout: float = 10) -> HttpExporter:
        """The real OTLP/HTTP (protobuf) exporter, pointed at serve."""
        return HttpExporter(
            endpoint=self.http_url,
            timeout=timeout,
            compression=Compression.Gzip if gzip else Compression.NoCompression,
        )

    def terminate(self, signum: int = signal.SIGTERM) -> int:
        """SIGTERM (or ``signum``), then waits for the drain; returns the exit code."""
        self.proc.send_signal(signum)
        return self.wait_for_exit()

    def wait_for_exit(self, timeout: float = 90) -> int:
        """Waits for serve to exit (after a stop signal); returns the exit code, keeps its stdout."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # SIGABRT makes faulthandler (PYTHONFAULTHANDLER, set at start) print every thread's
            # stack, so a hung drain says where it hangs.
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            raise AssertionError("serve did not stop within %g s:\n%s" % (timeout, self.stderr)) from None
        self.output = self.proc.stdout.read()
        return code

    @property
    def stderr(self) -> str:
        return self._stderr_path.read_text()


@contextmanager
def start_serve(
    sink, tmp_path: Path, *flags: str, env: dict | None = None, launcher: Sequence[str] | None = None
) -> Iterator[Serve]:
    """Starts ``ldai-otel serve`` on ephemeral loopback ports, its events going to ``sink``.

    ``launcher``: what runs the CLI with the arguments that follow it (default
    ``python -m ldai_otel.cli``), e.g. a script that wraps the CLI's ``main``.
    """
    stderr_path = tmp_path / ("serve-%d.stderr" % len(list(tmp_path.glob("serve-*.stderr"))))
    argv = [
        *(launcher or (sys.executable, "-m", "ldai_otel.cli")),
        "serve",
        "--grpc",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--flush-interval",
        "0.2",
        *flags,
    ]
    environment = {
        **os.environ,
        "PYTHONFAULTHANDLER": "1",  # see Serve.wait_for_exit: a hung serve prints its threads' stacks
        "LAUNCHDARKLY_SDK_KEY": SDK_KEY,
        "LAUNCHDARKLY_EVENTS_URI": sink.uri,
        **(env or {}),
    }
    with open(stderr_path, "w") as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment)
    try:
        line = proc.stdout.readline()
        match = LISTENING.search(line)
        assert match, "serve did not start: %r\n%s" % (line, stderr_path.read_text())
        ports = dict(part.split(" ") for part in match.group(1).split(", "))
        yield Serve(
            proc,
            int(ports["grpc"].rsplit(":", 1)[1]),
            int(ports["http"].rsplit(":", 1)[1]),
            stderr_path,
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()


def metrics_of(serve: Serve, tls_context=None) -> dict[str, float]:
    """Serve's ``/metrics``, parsed by prometheus-client: ``name{label="value",...}`` to value."""
    from prometheus_client.parser import text_string_to_metric_families

    url = "%s://127.0.0.1:%d/metrics" % ("https" if tls_context else "http", serve.http_port)
    with urllib.request.urlopen(url, timeout=10, context=tls_context) as response:
        text = response.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join('%s="%s"' % item for item in sorted(sample.labels.items()))
            values[sample.name + ("{%s}" % labels if labels else "")] = sample.value
    return values


def export(exporter, spans) -> None:
    """Exports ``spans`` in one request; asserts serve took them."""
    assert exporter.export(list(spans)) == SpanExportResult.SUCCESS
