"""``ldai-otel inspect FILE``: what the processor makes of spans written to an OTLP JSON file.

Which files it reads is said in :mod:`ldai_otel.inspect.reading`.

Spans are decoded by ``otlp.decode.SpanDecoder`` (shared with ``serve``) through the
same :class:`~ldai_otel.dialects.reader.Dialects` as in the processor. Runs are found
by the trace assembler's rule (``otlp.assembly.resolve``): a span is in the run of
its nearest ancestor-or-self carrying the ``ld.ai_config.*`` identity, and one
segment is made per (run, service), as each service's processor sees it
(``--as serve``: as ``ldai-otel serve`` decides the trace); each
segment is summarized and emitted by the processor's own code
(:func:`~ldai_otel.rules.emission.emit_segment`, which drives
``ldai``'s ``LDAIConfigTracker``) into a client that records the events,
or, with ``--send``, into a real ``ldclient.LDClient``.

Alongside the events it says why metrics are missing: GenAI spans that are in
no run, streams without usage, wrong-typed token attributes, spans that look
like GenAI but no dialect recognizes.

"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from ldai_otel.dialects.extractors import load_extractor
from ldai_otel.evaluations.mapped_events import parse_metric_map
from ldai_otel.inspect.reading import InspectError, UsageError, read_file
from ldai_otel.inspect.report import print_trace
from ldai_otel.inspect.runs import AS_PROCESSOR, AS_SERVE, RecordingClient, RunReport, build_runs, emit
from ldai_otel.live.events_client import events_client, events_config

SDK_KEY_ENV = "LAUNCHDARKLY_SDK_KEY"
"""Environment variable ``--send`` reads the LaunchDarkly SDK key from."""
DEFAULT_CONTEXT_KEY = "ldai-otel-inspect"
"""Context the events are attributed to (the run's own context is not in spans)."""
# --- Command ---------------------------------------------------------------------------


def _send_client(args: argparse.Namespace) -> Any:
    sdk_key = args.sdk_key or os.environ.get(SDK_KEY_ENV, "")
    if not sdk_key:
        raise UsageError("--send needs a LaunchDarkly SDK key: --sdk-key or $" + SDK_KEY_ENV)
    return events_client(events_config(sdk_key, args.events_uri))


def run_inspect(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The ``inspect`` subcommand.

    Returns:
        0 when the file held spans, 1 when it held none (not OTLP traces, empty)
        or could not be read, 2 on a usage error.
    """
    from ldclient import Context

    try:
        try:
            extractors = [load_extractor(spec) for spec in args.extractor or ()]
            evaluation_metrics = parse_metric_map(args.evaluation_metric or ())
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        progress = err if (not args.no_progress and err.isatty()) else None
        reading = read_file(args.file, extractors, progress, evaluation_metrics)
        client = RecordingClient(_send_client(args) if args.send else None)
    except InspectError as exc:
        err.write("ldai-otel inspect: %s\n" % exc)
        return 2 if isinstance(exc, UsageError) else 1
    context = Context.builder(args.context_key).kind(args.context_kind).build()
    if not context.valid:
        err.write("ldai-otel inspect: invalid context: %s\n" % context.error)
        return 2
    if reading.bad_lines:
        err.write(
            "ldai-otel inspect: %d line(s) were not OTLP JSON spans (first: %s)\n"
            % (reading.bad_lines, reading.first_error[:200])
        )
    skipped = sum(reading.other_documents.values())
    if skipped and reading.span_count:
        err.write(
            "ldai-otel inspect: skipped what is not OTLP traces: %s\n"
            % ", ".join(what % n for what, n in reading.other_documents.items())
        )
    runs = 0
    events = 0
    quiet_traces = 0
    try:
        for trace in reading.traces.values():
            if args.trace and not ("%032x" % trace.trace_id).startswith(args.trace.lower()):
                continue
            reports, outside = build_runs(trace, context, args.as_)
            if not reports and not outside:
                quiet_traces += 1
                continue
            for report in reports:
                emit(report, client, evaluation_metrics)
                runs += 1
                events += len(report.events)
            print_trace(out, trace, reports, outside, sent=args.send)
            out.write("\n")
    finally:
        if client.forward is not None:
            client.forward.flush()
            client.forward.close()
    out.write(
        "%d span(s), %d trace(s) read; %d run segment(s); %s\n"
        % (
            reading.span_count,
            len(reading.traces),
            runs,
            ("%d event(s) sent" if args.send else "%d event(s) would be sent (nothing sent; --send sends them)")
            % events,
        )
    )
    if quiet_traces:
        out.write("%d trace(s) with neither runs nor GenAI spans are not listed\n" % quiet_traces)
    if not reading.span_count:
        err.write("ldai-otel inspect: %s holds no OTLP traces: it has %s\n" % (args.file, reading.found()))
        return 1
    return 0


def add_parser(verbs: Any) -> None:
    """Registers ``inspect`` on the CLI's subcommands."""
    parser = verbs.add_parser(
        "inspect",
        help="show the runs and LaunchDarkly events the processor makes of spans in an OTLP JSON file",
        description=(
            "Reads spans from an OTLP JSON file (the Collector's file exporter, "
            "opentelemetry-exporter-otlp-json-file) and prints, per trace, the runs found and "
            "the LaunchDarkly events the processor sends for them, and why metrics are missing. "
            "Sends nothing unless --send. Exit status: 0 when the file held spans, 1 when it held "
            "none (not OTLP traces, or empty) or could not be read, 2 on a usage error."
        ),
    )
    parser.add_argument("file", help="OTLP JSON file (JSON Lines or one document; .gz allowed)")
    parser.add_argument(
        "--send",
        action="store_true",
        help="send the events to LaunchDarkly (SDK key from --sdk-key or $" + SDK_KEY_ENV + ")",
    )
    parser.add_argument("--sdk-key", default="", help="LaunchDarkly SDK key for --send (default: $%s)" % SDK_KEY_ENV)
    parser.add_argument("--events-uri", default="", help="LaunchDarkly events base URI for --send (e.g. a relay)")
    parser.add_argument(
        "--context-key",
        default=DEFAULT_CONTEXT_KEY,
        help="key of the LaunchDarkly context events are attributed to (spans do not carry it)",
    )
    parser.add_argument("--context-kind", default="user", help="kind of that context")
    parser.add_argument(
        "--extractor",
        action="append",
        metavar="MODULE:FUNCTION",
        help="extra extractor for an in-house dialect (repeatable)",
    )
    parser.add_argument(
        "--evaluation-metric",
        action="append",
        metavar="NAME=METRIC_KEY",
        help="map gen_ai.evaluation.result span events named NAME to the metric METRIC_KEY, as the "
        "processor's evaluation_metrics does (repeatable)",
    )
    parser.add_argument(
        "--as",
        dest="as_",
        choices=(AS_PROCESSOR, AS_SERVE),
        default=AS_PROCESSOR,
        help="predict what in-process processors send (default: one segment per run and service, "
        "roles from the spans) or what ldai-otel serve sends for the same spans (one segment per run "
        "across services; spans a processor already emitted are skipped)",
    )
    parser.add_argument("--trace", default="", help="only traces whose hex id starts with this")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on a terminal")
    parser.set_defaults(func=run_inspect)


__all__ = [
    "InspectError",
    "RecordingClient",
    "RunReport",
    "SDK_KEY_ENV",
    "UsageError",
    "add_parser",
    "build_runs",
    "read_file",
    "run_inspect",
]
