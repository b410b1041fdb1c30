"""The three sources on the same recorded spans: the processor, ``ldai-otel serve`` and ``inspect``.

A scenario records spans once, in this process, with real ``TracerProvider`` s and
real ``LDAISpanProcessor`` s whose real ``LDClient`` s send to the loopback sink
(the processor's events). The same spans are then

* written to an OTLP JSON file by the real file exporter and read by
  ``ldai-otel inspect --as processor`` and ``--as serve`` (``--send`` through a real
  client to the same sink);
* exported by the real OTLP/gRPC exporter to ``ldai-otel serve`` started as a process.

Serve receives the spans as an app without a processor would export them: the
one attribute by which a processor says it already emitted a run
(``ld.ai_config.emitter``) is taken off, unless the scenario keeps it (serve
beside processors). ``inspect --as serve`` reads what serve received.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from otlp_json import FileSpanExporter
from serve_support import export, start_serve

from ldai_otel.cli import main as cli_main
from ldai_otel.testing import flush_events

EMITTER = "ld.ai_config.emitter"
AI_PREFIX = "$ld:ai:"
SDK_INFO_PREFIX = "$ld:ai:sdk:"
"""The AI SDK's own usage events (an ``LDAIClient`` made), not a run's."""


@dataclass
class Recording:
    """One scenario's spans and what the processors sent for them."""

    spans: list[ReadableSpan]
    processor_events: list[dict[str, Any]]
    late: list[ReadableSpan] = field(default_factory=list)
    """Spans that reach serve only after it emitted the rest (a late arrival)."""
    keep_emitter: bool = False
    """Serve beside processors: serve receives the spans as the processors stamped them."""


def ai_events(sink) -> list[dict[str, Any]]:
    """Every run and graph ``$ld:ai:*`` custom event at the sink (graph events carry no runId)."""
    return [
        e
        for e in sink.events()
        if e.get("kind") == "custom"
        and str(e.get("key", "")).startswith(AI_PREFIX)
        and not str(e.get("key", "")).startswith(SDK_INFO_PREFIX)
        and isinstance(e.get("data"), dict)
    ]


def comparable(events: Sequence[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    """Events as (key, metricValue, data) sorted; a duration's value compared as present only."""
    out = []
    for event in events:
        key = event["key"]
        value = "present" if "duration" in key else event.get("metricValue")
        out.append((key, value, json.dumps(event["data"], sort_keys=True)))
    return sorted(out)


def processor_events(sink, flushes: Sequence[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Flushes each (client, processor) and returns every AI event the processors sent."""
    for client, processor in flushes:
        flush_events(client, sink, processor)
    return ai_events(sink)


def served_spans(recording: Recording, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    """The spans as serve receives them (see the module docstring)."""
    if recording.keep_emitter:
        return list(spans)
    return [_without(span, EMITTER) for span in spans]


def _without(span: ReadableSpan, key: str) -> ReadableSpan:
    attributes = {k: v for k, v in (span.attributes or {}).items() if k != key}
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def write_otlp_json(path: Path, spans: Sequence[ReadableSpan]) -> Path:
    """The spans in an OTLP JSON file, written by the real file exporter."""
    with open(path, "w") as stream:
        exporter = FileSpanExporter(stream=stream)
        exporter.export(list(spans))
    return path


def inspect_events(sink, path: Path, as_: str, sdk_key: str) -> list[dict[str, Any]]:
    """What ``ldai-otel inspect FILE --as AS --send`` delivers to the sink (its client is closed: all posted)."""
    sink.clear()
    # The CLI sets up logging for a process of its own: the test process gets its loggers back.
    ldclient_logger = logging.getLogger("ldclient")
    level, handlers = ldclient_logger.level, list(logging.getLogger().handlers)
    try:
        code = cli_main(["inspect", str(path), "--as", as_, "--send", "--events-uri", sink.uri, "--sdk-key", sdk_key])
    finally:
        ldclient_logger.setLevel(level)
        logging.getLogger().handlers[:] = handlers
    assert code == 0
    return ai_events(sink)


def serve_events(sink, tmp_path: Path, recording: Recording) -> list[dict[str, Any]]:
    """What ``ldai-otel serve`` sends for the recording's spans, fed by the real OTLP/gRPC exporter."""
    sink.clear()
    with start_serve(sink, tmp_path, "--decision-wait", "0.3") as serve:
        exporter = serve.grpc_exporter()
        late_ids = {s.context.span_id for s in recording.late}
        export(exporter, served_spans(recording, [s for s in recording.spans if s.context.span_id not in late_ids]))
        if recording.late:
            # The late spans arrive once serve emitted the run: a continuation by arrival.
            assert sink.wait_for_event(lambda e: str(e.get("key", "")).startswith(AI_PREFIX), 30)
            export(exporter, served_spans(recording, recording.late))
        assert serve.terminate() == 0  # drains: every decided segment is posted before it exits
    assert "Traceback" not in serve.stderr
    return ai_events(sink)


Recorder = Callable[..., Recording]
