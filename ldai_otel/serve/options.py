"""``ldai-otel serve``'s options: each flag, its environment variable, default, parser and help.

``serve.command`` registers them on the CLI; docs/serve.md lists them. Every flag has an
environment variable (``LDAI_OTEL_SERVE_*``), the flag wins, and a value is checked when it is
parsed (a count or a wait must be positive, a choice one of its choices), so a bad flag stops
serve before it binds a port.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

DEFAULT_DECISION_WAIT_S = 30.0
"""Like the Collector's ``tail_sampling`` ``decision_wait`` default: spans of a trace
exported by batching SDKs and Collectors (5 s batches, retries) meet within it."""


class _Option:
    __slots__ = ("flag", "env", "default", "kind", "help")

    def __init__(self, flag: str, env: str, default: Any, kind: Callable[[str], Any], help: str):
        self.flag = flag
        self.env = env
        self.default = default
        self.kind = kind
        self.help = help


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive: %r" % text)
        return value

    parse.__name__ = kind.__name__
    return parse


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError("one of %s: %r" % (", ".join(choices), text))
        return text

    parse.__name__ = "choice"
    return parse


OPTIONS = (
    _Option("--grpc", "LDAI_OTEL_SERVE_GRPC", "127.0.0.1:4317", str, "OTLP/gRPC listen address; 'off' for none"),
    _Option("--http", "LDAI_OTEL_SERVE_HTTP", "127.0.0.1:4318", str, "OTLP/HTTP listen address; 'off' for none"),
    _Option(
        "--decision-wait",
        "LDAI_OTEL_SERVE_DECISION_WAIT",
        DEFAULT_DECISION_WAIT_S,
        _positive(float),
        "seconds a trace must be quiet before its runs are emitted",
    ),
    _Option(
        "--retention",
        "LDAI_OTEL_SERVE_RETENTION",
        600.0,
        _positive(float),
        "seconds a quiet trace is remembered, so late spans form a continuation segment",
    ),
    _Option("--max-traces", "LDAI_OTEL_SERVE_MAX_TRACES", 10_000, _positive(int), "most traces buffered"),
    _Option(
        "--max-spans-per-trace", "LDAI_OTEL_SERVE_MAX_SPANS_PER_TRACE", 10_000, _positive(int), "most spans per trace"
    ),
    _Option("--max-spans", "LDAI_OTEL_SERVE_MAX_SPANS", 500_000, _positive(int), "most spans buffered in all"),
    _Option(
        "--max-request-bytes",
        "LDAI_OTEL_SERVE_MAX_REQUEST_BYTES",
        16 * 1024 * 1024,
        _positive(int),
        "largest request body, after decompression",
    ),
    _Option(
        "--flush-interval",
        "LDAI_OTEL_SERVE_FLUSH_INTERVAL",
        5.0,
        _positive(float),
        "seconds between the LaunchDarkly client's event flushes",
    ),
    _Option(
        "--events-capacity",
        "LDAI_OTEL_SERVE_EVENTS_CAPACITY",
        100_000,
        _positive(int),
        "events the LaunchDarkly client holds between flushes (its own default, 10,000, drops events past "
        "about 300 runs/s at a 5 s flush)",
    ),
    _Option(
        "--state-dir",
        "LDAI_OTEL_SERVE_STATE_DIR",
        "",
        str,
        "directory of the durable spool: what serve acknowledges is on disk first, and a restart emits what "
        "was not delivered; one per instance (locked); empty for none",
    ),
    _Option(
        "--fsync",
        "LDAI_OTEL_SERVE_FSYNC",
        "always",
        _choice("always", "interval", "never"),
        "when the spool syncs to disk: before each acknowledgement (always), every second (interval), never",
    ),
    _Option(
        "--spool-max-bytes",
        "LDAI_OTEL_SERVE_SPOOL_MAX_BYTES",
        1 << 30,
        _positive(int),
        "most bytes the spool holds; past it requests are refused (retryable) until runs are delivered",
    ),
    _Option(
        "--spool-file-bytes",
        "LDAI_OTEL_SERVE_SPOOL_FILE_BYTES",
        64 << 20,
        _positive(int),
        "size at which a spool file is rolled (files are deleted whole once delivered)",
    ),
    _Option("--tls-cert", "LDAI_OTEL_SERVE_TLS_CERT", "", str, "PEM certificate: serve both ports over TLS"),
    _Option("--tls-key", "LDAI_OTEL_SERVE_TLS_KEY", "", str, "PEM private key for --tls-cert"),
)
