"""``ldai-otel inspect FILE``: what the processor makes of spans written to an OTLP JSON file.

Reads spans as the OpenTelemetry Collector's file exporter and
``opentelemetry-exporter-otlp-json-file`` write them (JSON Lines, one
``TracesData`` / ``ExportTraceServiceRequest`` per line; a single pretty-printed
document works too; ``.gz`` is decompressed). Each line is parsed with
``opentelemetry-proto``'s messages and protobuf's JSON support; the only
fix-up is OTLP's JSON encoding of trace and span ids as hex, where protobuf
expects base64 (files written with ``MessageToJson`` carry base64 and are read
as they are).

Spans are decoded by ``_otlp.SpanDecoder`` (shared with ``serve``) through the
same :class:`~ldai_otel._dialects.Dialects` as in the processor. Runs are found
by the trace assembler's rule (``_assembler.resolve``): a span is in the run of
its nearest ancestor-or-self carrying the ``ld.ai_config.*`` identity, and one
segment is made per (run, service), as each service's processor sees it; each
segment is summarized and emitted by the processor's own code (:func:`~ldai_otel._emitter.emit_segment`, which drives
``ldai``'s ``LDAIConfigTracker``) into a client that records the events,
or, with ``--send``, into a real ``ldclient.LDClient``.

Alongside the events it says why metrics are missing: GenAI spans that are in
no run, streams without usage, wrong-typed token attributes, spans that look
like GenAI but no dialect recognizes.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, TextIO, cast

from ldai_otel import _attributes as A
from ldai_otel._assembler import (
    AI_RUN_SCOPE,
    LD_TRACKED,
    RunMark,
    SpanFacts,
    make_segment,
    pick_root,
    resolve,
    run_info,
)
from ldai_otel._content import content_lengths
from ldai_otel._dialects import Dialects
from ldai_otel._evaluation_events import EvaluationEvents, parse_metric_map
from ldai_otel._inspect_report import print_trace
from ldai_otel._observation import MODEL, Extractor
from ldai_otel._otlp import SpanDecoder, fix_json_ids, load_proto
from ldai_otel._rules import Summary
from ldai_otel._runs import ORIGIN, RESUMED, Segment

SDK_KEY_ENV = "LAUNCHDARKLY_SDK_KEY"
"""Environment variable ``--send`` reads the LaunchDarkly SDK key from."""
DEFAULT_CONTEXT_KEY = "ldai-otel-inspect"
"""Context the events are attributed to (the run's own context is not in spans)."""
PROGRESS_INTERVAL_S = 0.5
MAX_JUDGES = 16

_GENAI_PREFIXES = ("gen_ai.", "llm.", "ai.", "openinference.", "traceloop.", "embedding.")
_TOKEN_KEYS = (
    A.GEN_AI_USAGE_INPUT_TOKENS,
    A.GEN_AI_USAGE_OUTPUT_TOKENS,
    A.GEN_AI_USAGE_PROMPT_TOKENS,
    A.GEN_AI_USAGE_COMPLETION_TOKENS,
    A.GEN_AI_USAGE_TOTAL_TOKENS,
    A.LLM_USAGE_TOTAL_TOKENS,
    A.LLM_TOKEN_COUNT_PROMPT,
    A.LLM_TOKEN_COUNT_COMPLETION,
    A.LLM_TOKEN_COUNT_TOTAL,
    A.GEN_AI_AGGREGATED_USAGE_INPUT_TOKENS,
    A.GEN_AI_AGGREGATED_USAGE_OUTPUT_TOKENS,
    A.AI_USAGE_INPUT_TOKENS,
    A.AI_USAGE_OUTPUT_TOKENS,
    A.AI_USAGE_PROMPT_TOKENS,
    A.AI_USAGE_COMPLETION_TOKENS,
    A.AI_USAGE_TOTAL_TOKENS,
    A.AI_USAGE_TOKENS,
)
_STREAMING_FLAGS = (A.GEN_AI_IS_STREAMING, A.LLM_IS_STREAMING, A.GEN_AI_REQUEST_STREAM)

INSTALL_HINT = "ldai-otel inspect needs opentelemetry-proto: pip install 'ldai-otel[inspect]'"

_TRACES_KEYS = ("resourceSpans", "resource_spans")
# Other OTLP signals' top-level keys (camelCase as OTLP JSON writes them; snake_case as
# protobuf's MessageToJson(preserving_proto_field_name=True) does).
_OTHER_SIGNALS = (
    ("resourceLogs", "OTLP logs"),
    ("resource_logs", "OTLP logs"),
    ("resourceMetrics", "OTLP metrics"),
    ("resource_metrics", "OTLP metrics"),
    ("resourceProfiles", "OTLP profiles"),
    ("resource_profiles", "OTLP profiles"),
)


class InspectError(Exception):
    """The file cannot be read as OTLP JSON, or inspect cannot run."""


class UsageError(InspectError):
    """The command line asks for something that cannot be done."""


# --- Reading ---------------------------------------------------------------------


class SpanRecord(SpanFacts):
    """What inspect keeps of a run span or GenAI span: the run model's facts and diagnostics."""

    __slots__ = ("genai_keys", "junk", "streaming", "logfire_span", "logfire_log", "judges", "content")

    def __init__(self, trace_id: int, span_id: int, parent_id: int) -> None:
        super().__init__(trace_id, span_id, parent_id)
        self.genai_keys: tuple[str, ...] = ()
        """GenAI-looking attribute keys of a span no dialect recognized."""
        self.junk: tuple[str, ...] = ()
        """Token attributes present with values that are not counts."""
        self.streaming = False
        self.logfire_span = False
        """A logfire span (``logfire.span_type`` span)."""
        self.logfire_log = False
        """A logfire log span: for a model call, a consumed stream's usage and length."""
        self.judges: tuple[str, ...] = ()
        """On a run's ai_run span: the judge config keys of its AI Config."""
        self.content: tuple[int, int] | str | None = None
        """On a model call: the judged pair's lengths (never the text), ``"redacted"``, or None."""


class TraceRecord:
    """One trace: every span's parent (for the chains), and the spans that matter (marked or GenAI)."""

    __slots__ = ("trace_id", "spans", "parents", "marks", "other_spans", "services")

    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id
        self.spans: list[SpanRecord] = []
        self.parents: dict[int, int] = {}
        self.marks: dict[int, Any] = {}
        self.other_spans = 0
        self.services: set[str] = set()


class Reading:
    """Everything read from a file, per trace in order of first appearance."""

    def __init__(self) -> None:
        self.traces: dict[int, TraceRecord] = {}
        self.span_count = 0
        self.bad_lines = 0
        self.first_error = ""
        self.trace_documents = 0
        """JSON documents that are OTLP traces (with spans or not)."""
        self.other_documents: dict[str, int] = {}
        """JSON documents that are not OTLP traces, counted by what they are ("%d OTLP logs document(s)")."""

    def found(self) -> str:
        """What the file held, for a file without spans: "2 OTLP logs document(s)", "nothing"."""
        parts = [what % n for what, n in self.other_documents.items()]
        if self.trace_documents:
            parts.append("%d OTLP traces document(s) without spans" % self.trace_documents)
        if self.bad_lines:
            parts.append("%d line(s) that are not OTLP JSON" % self.bad_lines)
        return ", ".join(parts) or "nothing (the file is empty)"


def _not_traces(document: dict[str, Any]) -> str:
    """What a JSON document is when it is not OTLP traces, as a count's format; "" when it is."""
    if any(key in document for key in _TRACES_KEYS):
        return ""
    for key, what in _OTHER_SIGNALS:
        if key in document:
            return "%d " + what + " document(s)"
    if not document:
        return "%d empty JSON object(s)"
    keys = ", ".join(sorted(document)[:5]).replace("%", "%%")
    return "%d JSON document(s) that are not OTLP (top-level keys: " + keys + ")"


def _load_proto() -> tuple[Any, Any]:
    try:
        json_format, traces_data, _ = load_proto()
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise InspectError(INSTALL_HINT) from exc
    return json_format, traces_data


def _open(path: str) -> tuple[IO[bytes], IO[bytes]]:
    """The file as bytes (decompressed), and the raw file for progress."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    head = raw.read(2)
    raw.seek(0)
    if head == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw)), raw
    return raw, raw


def _documents(stream: IO[bytes]) -> Iterator[tuple[dict[str, Any] | None, str]]:
    """JSON objects from JSON Lines; a whole pretty-printed document as one object.

    Yields:
        ``(document, "")`` or ``(None, error)`` for a line that is not JSON.
    """
    first = True
    for line in stream:
        line = line.strip()
        if not line:
            continue
        try:
            document = json.loads(line)
        except ValueError as exc:
            if first and line in (b"{", b"["):
                # Not JSON Lines: one pretty-printed document over many lines
                # (json.dumps and MessageToJson with an indent open that way).
                rest = line + b"\n" + stream.read()
                try:
                    document = json.loads(rest)
                except ValueError as whole_exc:
                    yield None, str(whole_exc)
                    return
                for item in document if isinstance(document, list) else [document]:
                    yield (item, "") if isinstance(item, dict) else (None, "not a JSON object")
                return
            first = False
            yield None, str(exc)
            continue
        first = False
        if isinstance(document, dict):
            yield document, ""
        else:
            yield None, "not a JSON object"


def _junk_token_keys(attrs: dict[str, Any]) -> tuple[str, ...]:
    """Token attributes that are present but hold no valid count."""
    junk = []
    for key in _TOKEN_KEYS:
        value = attrs.get(key)
        if value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not math.isfinite(value))
            or value < 0
        ):
            junk.append(key + "=" + repr(value)[:40])
    return tuple(junk)


def _with_diagnostics(facts: SpanFacts, attrs: dict[str, Any]) -> SpanFacts:
    """The decoder's hook: the span's facts as a :class:`SpanRecord`, with why metrics may be missing."""
    record = SpanRecord(facts.trace_id, facts.span_id, facts.parent_id)
    for name in SpanFacts.__slots__:
        setattr(record, name, getattr(facts, name))
    if record.mark is LD_TRACKED:
        # The processor counts such spans when they are in a run; inspect predicts it.
        record.mark = None
    judges = attrs.get(A.LD_AI_CONFIG_JUDGES)
    if isinstance(judges, (list, tuple)):
        record.judges = tuple(str(j) for j in judges[:MAX_JUDGES])
    observation = record.observation
    if observation is None:
        record.genai_keys = tuple(k for k in attrs if k.startswith(_GENAI_PREFIXES))
    elif observation.kind == MODEL:
        record.junk = _junk_token_keys(attrs)
        span_type = attrs.get(A.LOGFIRE_SPAN_TYPE)
        record.logfire_log = span_type == A.LOGFIRE_SPAN_TYPE_LOG
        record.logfire_span = span_type == A.LOGFIRE_SPAN_TYPE_SPAN
        record.streaming = (
            record.logfire_log
            or observation.time_to_first_token_ms is not None
            or any(attrs.get(flag) is True for flag in _STREAMING_FLAGS)
        )
        record.content = content_lengths(attrs)
    return record


def _add(reading: Reading, record: SpanRecord) -> None:
    reading.span_count += 1
    trace = reading.traces.get(record.trace_id)
    if trace is None:
        trace = reading.traces[record.trace_id] = TraceRecord(record.trace_id)
    trace.services.add(record.service)
    trace.parents[record.span_id] = record.parent_id
    if record.mark is not None:
        trace.marks[record.span_id] = record.mark
    if record.mark is None and record.observation is None and not record.genai_keys:
        trace.other_spans += 1
        return
    trace.spans.append(record)


def read_file(
    path: str,
    extractors: Sequence[Extractor] = (),
    progress: TextIO | None = None,
    evaluation_metrics: Mapping[str, str] | None = None,
) -> Reading:
    """Reads every span of an OTLP JSON file, streaming it line by line.

    Args:
        path: The file (``.gz`` compressed or not).
        extractors: Extra extractors, as given to the processor.
        progress: Where to draw a progress line (a terminal), or None.
        evaluation_metrics: Evaluation name -> metric key (``--evaluation-metric``).

    Returns:
        The spans that matter, per trace.

    Raises:
        InspectError: The file cannot be opened, or opentelemetry-proto is missing.
    """
    json_format, traces_data_class = _load_proto()
    reading = Reading()
    decoder = SpanDecoder(Dialects(extractors), hook=_with_diagnostics, evaluation_metrics=evaluation_metrics)
    try:
        stream, raw = _open(path)
    except OSError as exc:
        raise InspectError("cannot read %s: %s" % (path, exc)) from exc
    total = os.fstat(raw.fileno()).st_size
    last_draw = 0.0
    try:
        with stream:
            for document, error in _documents(stream):
                if document is None:
                    reading.bad_lines += 1
                    reading.first_error = reading.first_error or error
                    continue
                other = _not_traces(document)
                if other:
                    # protobuf would parse it as traces without spans (unknown fields ignored).
                    reading.other_documents[other] = reading.other_documents.get(other, 0) + 1
                    continue
                reading.trace_documents += 1
                fix_json_ids(document)
                message = traces_data_class()
                try:
                    json_format.ParseDict(document, message, ignore_unknown_fields=True)
                except json_format.ParseError as exc:
                    reading.bad_lines += 1
                    reading.first_error = reading.first_error or str(exc)
                    continue
                for record in decoder.decode(message):
                    _add(reading, record)  # type: ignore[arg-type]
                if progress is not None:
                    now = time.monotonic()
                    if now - last_draw >= PROGRESS_INTERVAL_S:
                        last_draw = now
                        progress.write(
                            "\rreading %s: %.1f of %.1f MB, %d spans"
                            % (os.path.basename(path), raw.tell() / 1e6, total / 1e6, reading.span_count)
                        )
                        progress.flush()
    except (OSError, EOFError) as exc:  # a truncated or corrupt .gz
        raise InspectError("cannot read %s: %s" % (path, exc)) from exc
    finally:
        raw.close()
        if progress is not None and last_draw:
            progress.write("\r" + " " * 78 + "\r")
            progress.flush()
    return reading


# --- Runs ----------------------------------------------------------------------------


class RunReport:
    """One segment found in the file, and what it emits."""

    def __init__(self, segment: Segment, spans: list[SpanRecord], service: str):
        self.segment = segment
        self.spans = spans
        self.service = service
        self.summary: Summary | None = None
        self.events: list[tuple[str, Any, dict[str, Any]]] = []


def build_runs(trace: TraceRecord, context: Any) -> tuple[list[RunReport], list[SpanRecord]]:
    """The trace's run segments, one per (run, service), and its GenAI spans in no run.

    A span is in the run of its nearest ancestor-or-self carrying the
    ``ld.ai_config.*`` identity (the trace assembler's rule, shared with
    ``serve``). A process's processor emits the spans whose run root is in
    the same service: the ``ai_run`` span (the origin) or the span that
    resumed the run from baggage (a resumed segment, which leaves duration and
    outcome to the origin). Spans whose nearest root is in another service were
    in no processor's run: they are listed as outside.
    """
    memo: dict[int, Any] = {}
    grouped: dict[tuple[tuple[str, str], str], list[SpanRecord]] = {}
    marks: dict[tuple[str, str], RunMark] = {}
    outside: list[SpanRecord] = []
    for record in trace.spans:
        found = resolve(record.span_id, trace.parents, trace.marks, memo)
        if isinstance(found, RunMark) and found.service == record.service:
            grouped.setdefault((found.key, record.service), []).append(record)
            marks.setdefault(found.key, found)
        elif record.observation is not None or record.genai_keys:
            outside.append(record)
    reports = []
    for (key, service), spans in grouped.items():
        root = pick_root(spans)
        role = ORIGIN if root is not None and root.scope == AI_RUN_SCOPE else RESUMED
        info = run_info(marks[key], context, spans)
        segment = make_segment(info, key[0], role, spans, root)
        # Every span's parent, so nested model calls are found through spans that are no run's.
        segment.parents = trace.parents
        reports.append(RunReport(segment, spans, service))
    reports.sort(key=lambda r: min(s.start_ns for s in r.spans))
    return reports, outside


class RecordingClient:
    """What ``LDAIConfigTracker`` sees as its ``ldclient.LDClient``: records each event.

    Args:
        forward: A real ``LDClient`` to also send each event through
            (``--send``); None for a dry run, which sends nothing.
    """

    def __init__(self, forward: Any = None) -> None:
        self.forward = forward
        self.tracked: list[tuple[str, Any, dict[str, Any]]] = []

    def track(self, event_name: str, context: Any, data: Any = None, metric_value: Any = None) -> None:
        """Records an event (``LDClient.track``'s signature), and sends it when forwarding."""
        self.tracked.append((event_name, metric_value, dict(data or {})))
        if self.forward is not None:
            self.forward.track(event_name, context, data, metric_value)


def emit(report: RunReport, client: RecordingClient, evaluation_metrics: Mapping[str, str] | None = None) -> None:
    """Summarizes and emits one segment through the processor's own code (mapped evaluations too)."""
    from ldai_otel._emitter import emit_segment

    before = len(client.tracked)
    if evaluation_metrics:
        EvaluationEvents(client, evaluation_metrics).on_observed_segment(report.segment)
    report.summary = emit_segment(client, report.segment)
    report.events = client.tracked[before:]


# --- Command ---------------------------------------------------------------------------


def _load_extractor(spec: str) -> Extractor:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError("--extractor wants module:function, got %r" % spec)
    try:
        module = importlib.import_module(module_name)
        extractor: Extractor = getattr(module, attribute)
        return extractor
    except (ImportError, AttributeError) as exc:
        raise UsageError("cannot load extractor %s: %s" % (spec, exc)) from exc


def _send_client(args: argparse.Namespace) -> Any:
    from ldclient import Config, LDClient

    sdk_key = args.sdk_key or os.environ.get(SDK_KEY_ENV, "")
    if not sdk_key:
        raise UsageError("--send needs a LaunchDarkly SDK key: --sdk-key or $" + SDK_KEY_ENV)
    options: dict[str, Any] = {"send_events": True, "diagnostic_opt_out": True, "use_ldd": True}
    if args.events_uri:
        options["events_uri"] = args.events_uri
    # use_ldd: no flag data is needed to send events, so no streaming connection.
    return LDClient(config=Config(sdk_key, **options), start_wait=0)


def run_inspect(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The ``inspect`` subcommand.

    Returns:
        0 when the file held spans, 1 when it held none (not OTLP traces, empty)
        or could not be read, 2 on a usage error.
    """
    from ldclient import Context

    try:
        extractors = [_load_extractor(spec) for spec in args.extractor or ()]
        try:
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
            reports, outside = build_runs(trace, context)
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
