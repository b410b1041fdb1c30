"""``ldai-otel inspect FILE``: what the processor makes of spans written to an OTLP JSON file.

Reads spans as the OpenTelemetry Collector's file exporter and
``opentelemetry-exporter-otlp-json-file`` write them (JSON Lines, one
``TracesData`` / ``ExportTraceServiceRequest`` per line; a single pretty-printed
document works too; ``.gz`` is decompressed). Each line is parsed with
``opentelemetry-proto``'s messages and protobuf's JSON support; the only
fix-up is OTLP's JSON encoding of trace and span ids as hex, where protobuf
expects base64 (files written with ``MessageToJson`` carry base64 and are read
as they are).

Spans become ``ReadableSpan`` objects and go through the same
:class:`~ldai_otel._dialects.Dialects` as in the processor. Runs are found by
the ``ld.ai_config.*`` attributes the processor stamps on run spans, one
segment per (run, service); each segment is summarized and emitted by the
processor's own code (:func:`~ldai_otel._emitter.emit_segment`, which drives
``ldai``'s ``LDAIConfigTracker``) into a client that records the events,
or, with ``--send``, into a real ``ldclient.LDClient``.

Alongside the events it says why metrics are missing: GenAI spans that are in
no run, streams without usage, wrong-typed token attributes, spans that look
like GenAI but no dialect recognizes.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import importlib
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any, TextIO

from ldai_otel import _attributes as A
from ldai_otel._dialects import AGENT, MODEL, TOOL, Dialects, Extractor, Observation
from ldai_otel._rules import Summary
from ldai_otel._runs import ORIGIN, RESUMED, Binding, RunInfo, Segment

SDK_KEY_ENV = "LAUNCHDARKLY_SDK_KEY"
"""Environment variable ``--send`` reads the LaunchDarkly SDK key from."""
DEFAULT_CONTEXT_KEY = "ldai-otel-inspect"
"""Context the events are attributed to (the run's own context is not in spans)."""
AI_RUN_SCOPE = "ldai_otel"
"""Instrumentation scope of the ``ai_run`` span: a run's origin."""
UNKNOWN_SERVICE = "unknown_service"
PROGRESS_INTERVAL_S = 0.5
MAX_LISTED = 20
"""Most model calls or spans listed per run or trace; the rest are counted."""

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
_HEX = frozenset("0123456789abcdefABCDEF")

INSTALL_HINT = "ldai-otel inspect needs opentelemetry-proto: pip install 'ldai-otel[inspect]'"


class InspectError(Exception):
    """The file cannot be read as OTLP JSON, or inspect cannot run."""


class UsageError(InspectError):
    """The command line asks for something that cannot be done."""


# --- Reading ---------------------------------------------------------------------


class SpanRecord:
    """What inspect keeps of one span: ids, run stamps, its observation, diagnostics."""

    __slots__ = (
        "trace_id",
        "span_id",
        "parent_id",
        "name",
        "scope",
        "service",
        "start_ns",
        "end_ns",
        "error",
        "run",
        "observation",
        "genai_keys",
        "junk",
        "streaming",
        "logfire_span",
        "logfire_log",
        "config_model",
        "config_provider",
    )

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0
        self.parent_id = 0
        self.name = ""
        self.scope = ""
        self.service = UNKNOWN_SERVICE
        self.start_ns = 0
        self.end_ns = 0
        self.error = False
        self.run: tuple[str, str, str, int] | None = None
        """(run_id, config_key, variation_key, version) from the ld.ai_config.* stamps."""
        self.observation: Observation | None = None
        self.genai_keys: tuple[str, ...] = ()
        """GenAI-looking attribute keys of a span no dialect recognized."""
        self.junk: tuple[str, ...] = ()
        """Token attributes present with values that are not counts."""
        self.streaming = False
        self.logfire_span = False
        """A logfire span (``logfire.span_type`` span)."""
        self.logfire_log = False
        """A logfire log span: for a model call, a consumed stream's usage and length."""
        self.config_model = ""
        self.config_provider = ""
        """The AI Config's model and provider, when a run span is stamped with them."""


class TraceRecord:
    """The spans of one trace that matter: run spans and GenAI spans."""

    __slots__ = ("trace_id", "spans", "other_spans", "services")

    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id
        self.spans: list[SpanRecord] = []
        self.other_spans = 0
        self.services: set[str] = set()


class Reading:
    """Everything read from a file, per trace in order of first appearance."""

    def __init__(self) -> None:
        self.traces: dict[int, TraceRecord] = {}
        self.span_count = 0
        self.bad_lines = 0
        self.first_error = ""


def _load_proto() -> tuple[Any, Any]:
    try:
        from google.protobuf import json_format
        from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise InspectError(INSTALL_HINT) from exc
    return json_format, TracesData


def _open(path: str) -> tuple[IO[bytes], IO[bytes]]:
    """The file as bytes (decompressed), and the raw file for progress."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    head = raw.read(2)
    raw.seek(0)
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw), raw
    return raw, raw


def _documents(stream: IO[bytes]) -> Iterator[tuple[dict | None, str]]:
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


def _id_to_base64(value: Any, hex_length: int) -> Any:
    """OTLP JSON writes ids as hex; protobuf's JSON reads bytes as base64."""
    if isinstance(value, str) and len(value) == hex_length and not (set(value) - _HEX):
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    return value


def _fix_ids(document: dict) -> None:
    for resource_spans in document.get("resourceSpans") or document.get("resource_spans") or ():
        if not isinstance(resource_spans, dict):
            continue
        for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("scope_spans") or ():
            if not isinstance(scope_spans, dict):
                continue
            for span in scope_spans.get("spans") or ():
                if not isinstance(span, dict):
                    continue
                for key, length in (
                    ("traceId", 32),
                    ("spanId", 16),
                    ("parentSpanId", 16),
                    ("trace_id", 32),
                    ("span_id", 16),
                    ("parent_span_id", 16),
                ):
                    if key in span:
                        span[key] = _id_to_base64(span[key], length)
                for link in span.get("links") or ():
                    if isinstance(link, dict):
                        for key, length in (("traceId", 32), ("spanId", 16)):
                            if key in link:
                                link[key] = _id_to_base64(link[key], length)


def _any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as the Python value the SDK would hold."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return tuple(_any_value(v) for v in value.array_value.values)
    if which == "bytes_value":
        return bytes(value.bytes_value)
    if which == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in key_values}


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


class _Reader:
    """Turns parsed ``TracesData`` into :class:`SpanRecord` objects."""

    def __init__(self, dialects: Dialects, reading: Reading):
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

        self._dialects = dialects
        self._reading = reading
        self._Event = Event
        self._ReadableSpan = ReadableSpan
        self._Resource = Resource
        self._Scope = InstrumentationScope
        self._SpanContext = SpanContext
        self._kinds = {
            1: SpanKind.INTERNAL,
            2: SpanKind.SERVER,
            3: SpanKind.CLIENT,
            4: SpanKind.PRODUCER,
            5: SpanKind.CONSUMER,
        }
        self._internal = SpanKind.INTERNAL
        self._statuses = {0: Status(StatusCode.UNSET), 1: Status(StatusCode.OK)}
        self._Status = Status
        self._error = StatusCode.ERROR

    def add(self, traces_data: Any) -> None:
        for resource_spans in traces_data.resource_spans:
            resource_attrs = _attributes(resource_spans.resource.attributes)
            service = resource_attrs.get(A.SERVICE_NAME)
            service = service if isinstance(service, str) and service else UNKNOWN_SERVICE
            resource = self._Resource(resource_attrs)
            for scope_spans in resource_spans.scope_spans:
                scope = self._Scope(scope_spans.scope.name, scope_spans.scope.version or None)
                for span in scope_spans.spans:
                    self._add_span(span, service, resource, scope)

    def _add_span(self, span: Any, service: str, resource: Any, scope: Any) -> None:
        self._reading.span_count += 1
        trace_id = int.from_bytes(span.trace_id, "big") if len(span.trace_id) == 16 else 0
        span_id = int.from_bytes(span.span_id, "big") if len(span.span_id) == 8 else 0
        parent_id = int.from_bytes(span.parent_span_id, "big") if len(span.parent_span_id) == 8 else 0
        trace = self._reading.traces.get(trace_id)
        if trace is None:
            trace = self._reading.traces[trace_id] = TraceRecord(trace_id)
        trace.services.add(service)
        attrs = _attributes(span.attributes)
        if span.status.code == 2:
            status = self._Status(self._error, span.status.message or None)
        else:
            status = self._statuses.get(span.status.code, self._statuses[0])
        readable = self._ReadableSpan(
            name=span.name,
            context=self._SpanContext(trace_id, span_id, is_remote=False),
            parent=self._SpanContext(trace_id, parent_id, is_remote=False) if parent_id else None,
            resource=resource,
            attributes=attrs,
            events=[
                self._Event(event.name, _attributes(event.attributes), event.time_unix_nano) for event in span.events
            ],
            kind=self._kinds.get(span.kind, self._internal),
            status=status,
            start_time=span.start_time_unix_nano,
            end_time=span.end_time_unix_nano,
            instrumentation_scope=scope,
        )
        observation = self._dialects.observe(readable)
        run = _run_stamps(attrs)
        genai_keys: tuple[str, ...] = ()
        if observation is None:
            genai_keys = tuple(k for k in attrs if k.startswith(_GENAI_PREFIXES))
            if run is None and not genai_keys:
                trace.other_spans += 1
                return
        record = SpanRecord()
        record.trace_id = trace_id
        record.span_id = span_id
        record.parent_id = parent_id
        record.name = span.name
        record.scope = scope.name
        record.service = service
        record.start_ns = span.start_time_unix_nano
        record.end_ns = span.end_time_unix_nano
        record.error = status.status_code is self._error
        record.run = run
        if run is not None:
            model = attrs.get(A.LD_AI_CONFIG_MODEL_NAME)
            provider = attrs.get(A.LD_AI_CONFIG_PROVIDER_NAME)
            record.config_model = model if isinstance(model, str) else ""
            record.config_provider = provider if isinstance(provider, str) else ""
        record.observation = observation
        record.genai_keys = genai_keys
        if observation is not None and observation.kind == MODEL:
            record.junk = _junk_token_keys(attrs)
            span_type = attrs.get(A.LOGFIRE_SPAN_TYPE)
            record.logfire_log = span_type == A.LOGFIRE_SPAN_TYPE_LOG
            record.logfire_span = span_type == A.LOGFIRE_SPAN_TYPE_SPAN
            record.streaming = (
                record.logfire_log
                or observation.time_to_first_token_ms is not None
                or any(attrs.get(flag) is True for flag in _STREAMING_FLAGS)
            )
        trace.spans.append(record)


def _run_stamps(attrs: dict[str, Any]) -> tuple[str, str, str, int] | None:
    config_key = attrs.get(A.LD_AI_CONFIG_KEY)
    run_id = attrs.get(A.LD_AI_CONFIG_RUN_ID)
    if not isinstance(config_key, str) or not config_key or not isinstance(run_id, str) or not run_id:
        return None
    variation = attrs.get(A.LD_AI_CONFIG_VARIATION_KEY)
    version = attrs.get(A.LD_AI_CONFIG_VERSION)
    return (
        run_id,
        config_key,
        variation if isinstance(variation, str) else "",
        version if isinstance(version, int) and not isinstance(version, bool) else 0,
    )


def read_file(
    path: str,
    extractors: Sequence[Extractor] = (),
    progress: TextIO | None = None,
) -> Reading:
    """Reads every span of an OTLP JSON file, streaming it line by line.

    Args:
        path: The file (``.gz`` compressed or not).
        extractors: Extra extractors, as given to the processor.
        progress: Where to draw a progress line (a terminal), or None.

    Returns:
        The spans that matter, per trace.

    Raises:
        InspectError: The file cannot be opened, or opentelemetry-proto is missing.
    """
    json_format, traces_data_class = _load_proto()
    reading = Reading()
    reader = _Reader(Dialects(extractors), reading)
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
                _fix_ids(document)
                message = traces_data_class()
                try:
                    json_format.ParseDict(document, message, ignore_unknown_fields=True)
                except json_format.ParseError as exc:
                    reading.bad_lines += 1
                    reading.first_error = reading.first_error or str(exc)
                    continue
                reader.add(message)
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
        self.events: list[tuple[str, Any, dict]] = []


def build_runs(trace: TraceRecord, context: Any) -> tuple[list[RunReport], list[SpanRecord]]:
    """The trace's run segments, one per (run, config, service), and its GenAI spans in no run.

    The segment's root is its span whose parent is not in it; the run's
    origin when that is the ``ai_run`` span, else a segment resumed from
    baggage (which leaves duration and outcome to the origin).
    """
    grouped: dict[tuple[str, str, str], list[SpanRecord]] = {}
    outside: list[SpanRecord] = []
    for record in trace.spans:
        if record.run is None:
            if record.observation is not None or record.genai_keys:
                outside.append(record)
            continue
        grouped.setdefault((record.run[0], record.run[1], record.service), []).append(record)
    reports = []
    for (run_id, config_key, service), spans in grouped.items():
        _, _, variation_key, version = spans[0].run  # type: ignore[misc]
        ids = {s.span_id for s in spans}
        roots = sorted(
            (s for s in spans if s.parent_id not in ids),
            key=lambda s: (s.scope != AI_RUN_SCOPE, s.start_ns),
        )
        root = roots[0] if roots else None
        role = ORIGIN if root is not None and root.scope == AI_RUN_SCOPE else RESUMED
        info = RunInfo(
            config_key=config_key,
            variation_key=variation_key,
            version=version,
            context=context,
            model_name=next((s.config_model for s in spans if s.config_model), ""),
            provider_name=next((s.config_provider for s in spans if s.config_provider), ""),
        )
        segment = Segment(Binding.create(run_id, info, role), role, root.span_id if root else 0)
        segment.parents = {s.span_id: s.parent_id for s in spans}
        segment.observations = [s.observation for s in spans if s.observation is not None]
        if root is not None:
            segment.root_ended = True
            segment.root_error = root.error
            segment.root_start_ns = root.start_ns
            segment.root_end_ns = root.end_ns
        segment.closed = True
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
        self.tracked: list[tuple[str, Any, dict]] = []

    def track(self, event_name: str, context: Any, data: Any = None, metric_value: Any = None) -> None:
        """Records an event (``LDClient.track``'s signature), and sends it when forwarding."""
        self.tracked.append((event_name, metric_value, dict(data or {})))
        if self.forward is not None:
            self.forward.track(event_name, context, data, metric_value)


def emit(report: RunReport, client: RecordingClient) -> None:
    """Summarizes and emits one segment through the processor's own code."""
    from ldai_otel._emitter import emit_segment

    before = len(client.tracked)
    report.summary = emit_segment(client, report.segment)
    report.events = client.tracked[before:]


# --- Reporting -------------------------------------------------------------------------


def _tokens(obs: Observation) -> str:
    if not obs.has_usage:
        return "no usage"
    parts = [
        "input " + ("-" if obs.input_tokens is None else str(obs.input_tokens)),
        "output " + ("-" if obs.output_tokens is None else str(obs.output_tokens)),
    ]
    if obs.total_tokens is not None:
        parts.append("total " + str(obs.total_tokens))
    if obs.cache_read_tokens:
        parts.append("cache read " + str(obs.cache_read_tokens))
    if obs.cache_write_tokens:
        parts.append("cache write " + str(obs.cache_write_tokens))
    if obs.reasoning_tokens:
        parts.append("reasoning " + str(obs.reasoning_tokens))
    return ", ".join(parts)


def _span_line(record: SpanRecord) -> str:
    obs = record.observation
    if obs is None:
        return "%s  [not recognized: %s]" % (record.name, ", ".join(record.genai_keys[:6]))
    bits = [record.name, "[" + obs.kind + ", " + (obs.dialect or "extractor") + "]"]
    if obs.kind == MODEL:
        bits.append(_tokens(obs))
        if obs.time_to_first_token_ms is not None:
            bits.append("first token %.0f ms" % obs.time_to_first_token_ms)
        if obs.response_tool_calls:
            bits.append("asked for " + ", ".join(obs.response_tool_calls))
    elif obs.kind == TOOL:
        bits.append("tool " + (obs.tool_name or "?"))
    elif obs.has_usage:
        bits.append("aggregate " + _tokens(obs))
    if obs.error:
        bits.append("ERROR")
    return "  ".join(bits)


def _calls(report: RunReport) -> list[list[SpanRecord]]:
    """The run's model calls, grouped by the rule book's own rule (one call counts once)."""
    from ldai_otel._calls import model_calls

    records = {id(s.observation): s for s in report.spans if s.observation is not None}
    segment = report.segment
    return [[records[id(o)] for o in call] for call in model_calls(segment.observations, segment.parents)]


def diagnose(report: RunReport) -> list[str]:
    """Why a run's metrics may be missing or surprising; empty when nothing stands out."""
    notes = []
    spans = report.spans
    calls = _calls(report)
    agents = [s for s in spans if s.observation is not None and s.observation.kind == AGENT]
    unknown = [s for s in spans if s.observation is None and s.genai_keys]
    summary = report.summary
    if not calls:
        notes.append(
            "no model-call span in this run: is a GenAI instrumentation installed, on the tracer "
            "provider that has LDAISpanProcessor, and are the calls made inside the ai_run block?"
        )
    # logfire ends a streamed call's span at once; the stream's usage is on a
    # later log span under the same parent, so that span's lack is expected.
    logfire_stream_parents = {s.parent_id for s in spans if s.logfire_log}
    streamed = failed = other = 0
    for call in calls:
        if any(s.observation.has_usage for s in call):  # type: ignore[union-attr]
            continue
        if any(s.error for s in call):
            failed += 1
        elif any(s.streaming for s in call):
            streamed += 1
        elif not all(s.logfire_span and s.parent_id in logfire_stream_parents for s in call):
            other += 1
    if streamed:
        notes.append(
            "%d streamed call(s) carried no usage: OpenAI-compatible streams report usage only "
            'when asked, stream_options={"include_usage": True}' % streamed
        )
    if failed:
        notes.append("%d failed call(s) carried no usage (failed calls have none)" % failed)
    if other:
        notes.append(
            "%d model call(s) carried no usage: the instrumentation recorded none (a stream not "
            "consumed to its end, or a dialect whose usage attributes are unknown: see docs/dialects.md)" % other
        )
    for call in calls:
        for record in call:
            if record.junk:
                notes.append(
                    "%s: ignored token attribute(s) that are not counts: %s" % (record.name, ", ".join(record.junk))
                )
    if (
        summary is not None
        and summary.has_tokens
        and not any(
            s.observation.has_usage
            for call in calls
            for s in call  # type: ignore[union-attr]
        )
        and any(s.observation.has_usage for s in agents)
    ):  # type: ignore[union-attr]
        notes.append("tokens come from agent spans' aggregate usage: no model-call span had usage")
    if any(len(call) > 1 for call in calls):
        notes.append("nested model-call spans (two instrumentations on one call) are counted once")
    for record in unknown[:MAX_LISTED]:
        notes.append(
            "%s looks like GenAI (%s) but no dialect recognizes it: register an extractor "
            "(LDAISpanProcessor(extractors=...), inspect --extractor)" % (record.name, ", ".join(record.genai_keys[:4]))
        )
    if report.segment.role == RESUMED:
        notes.append(
            "resumed segment (service %s): duration and success/error are the origin's to emit" % report.service
        )
    return notes


def print_trace(
    out: TextIO,
    trace: TraceRecord,
    reports: list[RunReport],
    outside: list[SpanRecord],
    sent: bool,
) -> None:
    """Writes one trace's runs, events and notes."""
    w = out.write
    w(
        "trace %032x  (%d span(s) read, services: %s)\n"
        % (trace.trace_id, len(trace.spans) + trace.other_spans, ", ".join(sorted(trace.services)))
    )
    if not reports:
        w("  no run: no span carries ld.ai_config.* attributes\n")
    for report in reports:
        binding = report.segment.binding
        info = binding.info
        w(
            "  run %s  config %s  variation %s  version %d  (service %s, %s)\n"
            % (
                binding.run_id,
                info.config_key,
                info.variation_key or "-",
                info.version,
                report.service,
                report.segment.role,
            )
        )
        genai = sorted((s for s in report.spans if s.observation is not None), key=lambda s: s.start_ns)
        w("    spans: %d in the run, %d GenAI\n" % (len(report.spans), len(genai)))
        for record in genai[:MAX_LISTED]:
            w("      " + _span_line(record) + "\n")
        if len(genai) > MAX_LISTED:
            w("      ... and %d more\n" % (len(genai) - MAX_LISTED))
        w("    events %s:\n" % ("sent" if sent else "the processor sends"))
        if not report.events:
            w("      (none)\n")
        for key, value, data in report.events:
            suffix = "  toolKey " + str(data.get("toolKey")) if "toolKey" in data else ""
            w("      %-26s %s%s\n" % (key, value, suffix))
        if report.events:
            data = report.events[0][2]
            w(
                "      modelName %r, providerName %r%s\n"
                % (
                    data.get("modelName", ""),
                    data.get("providerName", ""),
                    ""
                    if info.model_name or info.provider_name
                    else " (from the spans: the AI Config's own, which the processor sends, are not in them)",
                )
            )
        for note in diagnose(report):
            w("    note: " + note + "\n")
    if outside:
        w("  not in any run: %d GenAI span(s), so no metrics from them\n" % len(outside))
        for record in outside[:MAX_LISTED]:
            w("      %s  (service %s)\n" % (_span_line(record), record.service))
        if len(outside) > MAX_LISTED:
            w("      ... and %d more\n" % (len(outside) - MAX_LISTED))
        w(
            "    note: these spans carry no ld.ai_config.* attributes: they started outside an ai_run "
            "block, in a trace the run did not reach, or in a process whose tracer provider has no "
            "LDAISpanProcessor (or that did not receive the run's baggage)\n"
        )


# --- Command ---------------------------------------------------------------------------


def _load_extractor(spec: str) -> Extractor:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError("--extractor wants module:function, got %r" % spec)
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute)
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
        0 when the file was read (whatever it held), 1 when it could not be,
        2 on a usage error.
    """
    from ldclient import Context

    try:
        extractors = [_load_extractor(spec) for spec in args.extractor or ()]
        progress = err if (not args.no_progress and err.isatty()) else None
        reading = read_file(args.file, extractors, progress)
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
                emit(report, client)
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
    return 0 if reading.span_count or not reading.bad_lines else 1


def add_parser(verbs: Any) -> None:
    """Registers ``inspect`` on the CLI's subcommands."""
    parser = verbs.add_parser(
        "inspect",
        help="show the runs and LaunchDarkly events the processor makes of spans in an OTLP JSON file",
        description=(
            "Reads spans from an OTLP JSON file (the Collector's file exporter, "
            "opentelemetry-exporter-otlp-json-file) and prints, per trace, the runs found and "
            "the LaunchDarkly events the processor sends for them, and why metrics are missing. "
            "Sends nothing unless --send."
        ),
    )
    parser.add_argument("file", help="OTLP JSON file (JSON Lines or one document; .gz allowed)")
    parser.add_argument(
        "--send",
        action="store_true",
        help="send the events to LaunchDarkly (SDK key from --sdk-key or $" + SDK_KEY_ENV + ")",
    )
    parser.add_argument("--sdk-key", default="", help="LaunchDarkly SDK key for --send")
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
