"""``ldai-otel serve``: AI Config metrics computed centrally from OTLP traces (docs/serve.md).

An OTLP receiver (gRPC and HTTP, ``serve.receivers``, ``serve.receiver_http``) feeds a trace buffer
(``serve.traces.TraceBuffer``) that finds runs through parent chains
(``otlp.assembly``); closed segments are emitted by the processor's own code
(``live.emitter.SegmentEmitter`` / ``emit_segment``, the rule book in ``rules.book``)
through an events-only ``ldclient.LDClient``.

With ``--state-dir`` every accepted request is written to a durable spool
before it is acknowledged, and a restart emits what was not yet delivered
(``serve.durability``; docs/serve-durability.md).

Every flag has an environment variable (``LDAI_OTEL_SERVE_*``); the flag wins
(the table of flags is ``serve.options``).
``SIGTERM``/``SIGINT``: stop accepting, decide and emit every buffered trace,
flush the LaunchDarkly client, exit 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import os
import signal
import ssl
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from ldai_otel.dialects.extractors import load_extractor
from ldai_otel.live.events_client import events_client, events_config
from ldai_otel.serve.options import OPTIONS

SDK_KEY_ENV = "LAUNCHDARKLY_SDK_KEY"
EVENTS_URI_ENV = "LAUNCHDARKLY_EVENTS_URI"
TOKEN_ENV = "LDAI_OTEL_SERVE_TOKEN"
EXTRACTOR_ENV = "LDAI_OTEL_SERVE_EXTRACTOR"
"""``--extractor``'s variable: ``module:function`` specs, comma-separated."""
BACKLOG_SEGMENTS = 5_000
"""Closed segments waiting for the LaunchDarkly client past which requests are refused
(retryable): half the emitter's queue, so emission stays off the receivers' threads."""
INSTALL_HINT = "ldai-otel serve needs its extra: pip install 'ldai-otel[serve]'"

_logger = logging.getLogger(__name__)


class ServeError(Exception):
    """serve cannot start."""


def _address(text: str, what: str) -> tuple[str, int] | None:
    if text.strip().lower() in ("", "off", "none"):
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ServeError("%s wants HOST:PORT, got %r" % (what, text))
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    """Whether a listen host reaches this machine only (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def exposure_warnings(addresses: list[tuple[str, tuple[str, int] | None]], token: str) -> list[str]:
    """The start-up warnings for listeners open beyond loopback without a bearer token."""
    if token:
        return []
    return [
        "ldai-otel serve: %s listens on %s:%d without a bearer token: set $%s (and TLS) or bind 127.0.0.1"
        % (what, address[0], address[1], TOKEN_ENV)
        for what, address in addresses
        if address is not None and not is_loopback(address[0])
    ]


def _ld_config(env: Mapping[str, str], flush_interval: float, capacity: int) -> Any:
    """The configuration of serve's events-only LaunchDarkly client (``live.events_client``).

    Diagnostics are off: serve sends its runs' events, nothing else.
    """
    sdk_key = env.get(SDK_KEY_ENV, "").strip()
    if not sdk_key:
        raise ServeError("$%s is required" % SDK_KEY_ENV)
    return events_config(
        sdk_key, env.get(EVENTS_URI_ENV, ""), flush_interval=flush_interval, events_max_pending=capacity
    )


def run_serve(
    args: argparse.Namespace,
    env: Mapping[str, str] = os.environ,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stop: threading.Event | None = None,
) -> int:
    """The ``serve`` subcommand: runs until SIGTERM/SIGINT (or ``stop``), then drains.

    Returns:
        0 after a clean drain, 2 when it cannot start.
    """
    try:
        from ldai_otel.dialects.reader import Dialects
        from ldai_otel.evaluations.mapped_events import EvaluationEvents, parse_metric_map
        from ldai_otel.live.emitter import SegmentEmitter
        from ldai_otel.otlp.decode import SpanDecoder, load_proto
        from ldai_otel.serve.durability import CLIENT_FLUSH_S, Spool
        from ldai_otel.serve.metrics import CountingClient, ServeMetrics
        from ldai_otel.serve.receiver_http import HttpReceiver
        from ldai_otel.serve.receivers import Ingest, start_grpc, stop_health
        from ldai_otel.serve.traces import TraceBuffer
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        err.write("ldai-otel serve: %s (%s)\n" % (INSTALL_HINT, exc))
        return 2
    try:
        grpc_address = _address(args.grpc, "--grpc")
        http_address = _address(args.http, "--http")
        if grpc_address is None and http_address is None:
            raise ServeError("both listeners are off")
        tls = None
        ssl_context = None
        if bool(args.tls_cert) != bool(args.tls_key):
            raise ServeError("--tls-cert and --tls-key go together")
        if args.tls_cert:
            with open(args.tls_cert, "rb") as cert, open(args.tls_key, "rb") as key:
                tls = (cert.read(), key.read())
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
        specs = args.extractor or [s.strip() for s in env.get(EXTRACTOR_ENV, "").split(",") if s.strip()]
        extractors = [load_extractor(spec) for spec in specs]
        evaluation_metrics = parse_metric_map(args.evaluation_metric or ())
        spool = None
        if args.state_dir:
            spool = Spool(
                args.state_dir, args.spool_max_bytes, args.spool_file_bytes, args.fsync, args.max_request_bytes
            )
        # With a spool, serve's delivery cycles flush the client (see _serve_spool).
        client_flush = CLIENT_FLUSH_S if spool is not None else args.flush_interval
        ld_config = _ld_config(env, client_flush, args.events_capacity)
    except Exception as exc:  # a bad flag, an unreadable file, a state directory in use (SpoolLocked)
        err.write("ldai-otel serve: %s\n" % exc)
        return 2

    # The ports are bound before any LaunchDarkly client exists: serve that cannot listen
    # exits without having talked to LaunchDarkly. Until the client and the emitter exist,
    # requests are refused, retryable (503 / UNAVAILABLE), and nothing enters the buffer.
    emitter: SegmentEmitter | None = None
    decoder = SpanDecoder(Dialects(extractors), evaluation_metrics=evaluation_metrics)
    decode_lock = threading.Lock()  # the decoder is shared by the receivers' threads and the spool

    def decode(request: Any) -> list[Any]:
        with decode_lock:
            return list(decoder.decode(request))

    request_class = load_proto()[2]
    buffer = TraceBuffer(
        lambda segments: emitter.submit(segments) if emitter is not None else None,
        decision_wait_s=args.decision_wait,
        retention_s=args.retention,
        max_traces=args.max_traces,
        max_spans_per_trace=args.max_spans_per_trace,
        max_spans=args.max_spans,
        ledger=spool.ledger if spool is not None else None,
        reload=spool.reload(request_class, decode) if spool is not None else None,
    )
    metrics = ServeMetrics(buffer, args.max_spans, lambda: emitter.queued if emitter is not None else 0)
    metrics.spool = spool.view if spool is not None else None
    ingest = Ingest(
        decode,
        buffer,
        token=env.get(TOKEN_ENV, ""),
        backlogged=lambda: emitter is not None and emitter.queued >= BACKLOG_SEGMENTS,
        # Room appears as traces go quiet: within one decision wait.
        retry_after_s=max(1, math.ceil(min(args.decision_wait, 5.0))),
        on_refused=metrics.refused,
        spool=spool.log if spool is not None else None,
    )
    ingest.accepting = False

    grpc_server = http = health = None
    stop = stop or threading.Event()
    try:
        listening = []
        if grpc_address is not None:
            grpc_server, port, health = start_grpc(ingest, "%s:%d" % grpc_address, args.max_request_bytes, tls)
            listening.append("grpc %s:%d" % (grpc_address[0], port))
        if http_address is not None:
            http = HttpReceiver(ingest, http_address, args.max_request_bytes, metrics.exposition, ssl_context)
            port = http.start()
            listening.append("http %s:%d" % (http_address[0], port))
    except Exception as exc:
        err.write("ldai-otel serve: cannot listen: %s\n" % exc)
        if grpc_server is not None:
            grpc_server.stop(0)
        if http is not None:
            http.stop()
        if spool is not None:
            spool.release()  # no client, no delivery: what it holds waits for the next start
        return 2

    ld_client = events_client(ld_config)
    dropped_handler = metrics.watch_ldclient()
    evaluation_events = EvaluationEvents(CountingClient(ld_client, metrics), evaluation_metrics)
    emitter = SegmentEmitter(
        CountingClient(ld_client, metrics),
        tick=buffer.tick,
        tick_interval_s=min(1.0, args.decision_wait / 4),
        before_emit=evaluation_events.on_observed_segment if evaluation_metrics else None,
    )
    if spool is not None:
        # Replayed before any new request is taken: a restart's spans go first.
        spool.replay(buffer, request_class, decode, err)
        spool.start_delivery(emitter, ld_client, args.flush_interval)
    ingest.accepting = True

    if evaluation_metrics:
        # serve evaluates no flags, so it has no AI Config's judges to run; it maps evaluations only.
        err.write(
            "ldai-otel serve: runs no judges (no flag evaluations here); maps %d evaluation name(s) "
            "of gen_ai.evaluation.result span events to metric keys\n" % len(evaluation_metrics)
        )
    for warning in exposure_warnings([("gRPC", grpc_address), ("HTTP", http_address)], env.get(TOKEN_ENV, "")):
        err.write(warning + "\n")
    err.flush()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    out.write(
        "ldai-otel serve: listening on %s (decision wait %gs, max traces %d, max spans per trace %d)\n"
        % (", ".join(listening), args.decision_wait, args.max_traces, args.max_spans_per_trace)
    )
    out.flush()
    # Wait in short steps: Python runs a signal handler only in the main thread, and when the
    # kernel hands SIGTERM to another thread (gRPC's, the LD client's), a main thread blocked in
    # an untimed wait would never wake to run it.
    while not stop.wait(0.25):
        pass

    # Stop accepting first, so nothing arrives after the drain.
    ingest.accepting = False
    if grpc_server is not None:
        stop_health(health)
        grpc_server.stop(grace=10).wait(15)
    if http is not None:
        http.stop()
    buffer.drain()
    emitter.shutdown(timeout_s=30.0)
    if spool is not None:
        spool.close()  # a last delivery, then the spool is emptied if everything was delivered
    ld_client.flush()
    ld_client.close()
    logging.getLogger("ldclient").removeHandler(dropped_handler)
    stats = buffer.stats
    out.write(
        "ldai-otel serve: stopped; %d span(s) received, %d segment(s) emitted\n"
        % (stats.spans_received, stats.segments_emitted)
    )
    out.flush()
    return 0


def _shown(default: Any) -> str:
    """A default as ``--help`` shows it: an empty one is "none", not a blank."""
    return "none" if default in ("", None) else str(default)


def add_parser(verbs: Any) -> None:
    """Registers ``serve`` on the CLI's subcommands."""
    parser = verbs.add_parser(
        "serve",
        help="receive OTLP traces and send the AI Config metrics of the runs in them",
        description=(
            "An OTLP traces receiver (gRPC and HTTP, protobuf and JSON, gzip) that finds AI Config runs "
            "through parent chains and sends their metrics to LaunchDarkly, as LDAISpanProcessor would. "
            "Environment: $%s (required), $%s, $%s (bearer token; unset = no auth). "
            "Each flag also reads the variable shown." % (SDK_KEY_ENV, EVENTS_URI_ENV, TOKEN_ENV)
        ),
    )
    for option in OPTIONS:
        default = os.environ.get(option.env)
        try:
            value = option.kind(default) if default not in (None, "") else option.default
        except (ValueError, argparse.ArgumentTypeError):
            value = option.default  # argparse reports a bad flag; a bad variable falls back, logged below
            _logger.warning("ldai-otel serve: ignoring $%s=%r", option.env, default)
        parser.add_argument(
            option.flag,
            type=option.kind,
            default=value,
            help="%s (default: %s; env %s)" % (option.help, _shown(option.default), option.env),
        )
    parser.add_argument(
        "--extractor",
        action="append",
        metavar="MODULE:FUNCTION",
        help="extra extractor for an in-house dialect (repeatable; default: none; env %s, comma-separated)"
        % EXTRACTOR_ENV,
    )
    parser.add_argument(
        "--evaluation-metric",
        action="append",
        metavar="NAME=METRIC_KEY",
        help="map gen_ai.evaluation.result span events named NAME to the LaunchDarkly metric METRIC_KEY "
        "(repeatable; serve runs no judges: it has no flag evaluations)",
    )
    parser.set_defaults(func=run_serve)
