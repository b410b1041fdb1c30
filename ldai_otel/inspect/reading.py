"""Reading an OTLP JSON file for ``ldai-otel inspect``: span facts per trace, with diagnostics.

Reads spans as the OpenTelemetry Collector's file exporter and
``opentelemetry-exporter-otlp-json-file`` write them (JSON Lines, one
``TracesData`` / ``ExportTraceServiceRequest`` per line; a single pretty-printed
document works too; ``.gz`` is decompressed). Each line is parsed with
``opentelemetry-proto``'s messages and protobuf's JSON support; the only
fix-up is OTLP's JSON encoding of trace and span ids as hex, where protobuf
expects base64. Spans are decoded by the OTLP decoder shared with ``serve``.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, TextIO, cast

from ldai_otel.dialects.content import content_lengths
from ldai_otel.dialects.reader import Dialects
from ldai_otel.model import attributes as A
from ldai_otel.model.observation import MODEL, Extractor
from ldai_otel.model.values import count_problem
from ldai_otel.otlp.assembly import (
    LD_TRACKED,
    SpanFacts,
)
from ldai_otel.otlp.decode import SpanDecoder, fix_json_ids, load_proto

PROGRESS_INTERVAL_S = 0.5
MAX_JUDGES = 16

_GENAI_PREFIXES = ("gen_ai.", "llm.", "ai.", "openinference.", "traceloop.", "embedding.")
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

    __slots__ = ("trace_id", "spans", "parents", "marks", "other_spans", "services", "plain")

    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id
        self.spans: list[SpanRecord] = []
        self.parents: dict[int, int] = {}
        self.marks: dict[int, Any] = {}
        self.other_spans = 0
        self.services: set[str] = set()
        self.plain: list[tuple[int, int, int, int, str]] = []
        """The other spans' (span id, parent id, start, end, service): they keep a segment open too."""

    def plain_facts(self) -> list[SpanFacts]:
        """The other spans as span facts (timing and service only), made when asked."""
        made = []
        for span_id, parent_id, start_ns, end_ns, service in self.plain:
            facts = SpanFacts(self.trace_id, span_id, parent_id)
            facts.start_ns, facts.end_ns, facts.service = start_ns, end_ns, service
            made.append(facts)
        return made


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
    """Token attributes that are present but hold no valid count, by the rule the dialects read them with.

    Every key a token count is read from (``model.attributes.TOKEN_KEYS``: input, output,
    total, cache read and write, reasoning, aggregated), each judged by
    :func:`~ldai_otel.model.values.count_problem`: what the processor ignores, inspect names.
    """
    junk = []
    for key in A.TOKEN_KEYS:
        value = attrs.get(key)
        if value is not None and count_problem(value) is not None:
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
        trace.plain.append((record.span_id, record.parent_id, record.start_ns, record.end_ns, record.service))
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
